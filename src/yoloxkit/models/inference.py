"""A faster, inference-only copy of a YOLOX network.

:func:`optimize_for_inference` derives from a model a separate module that computes the same
function with less work per call; the original is left untouched and stays the one to
train, save and export. What the copy does differently, each step exact up to float32
rounding (see ``docs/performance.md`` for what each step is worth):

* BatchNorm folded into the preceding convolution (:func:`~yoloxkit.models.fuse.fuse_conv_bn`);
* channels-last (NHWC) activations throughout on CPU: oneDNN's convolutions work in that
  layout natively, whereas with NCHW tensors every convolution converts its input and output;
* on CPU, each convolution and its activation run as one oneDNN call (the activation is a
  post-op of the convolution, so the output is written once instead of twice);
* the Focus stem (space-to-depth, then a 3x3 convolution on 12 channels) as the equivalent
  6x6 stride-2 convolution on the 3 input channels: the same products, without the copy;
* SPP's 5/9/13 max-pools as a cascade of 5x5 pools (a max of maxes: identical values);
* the head writes all levels straight into one preallocated ``[B, N, 5 + C]`` tensor (in
  channels-last memory each level is already ``[B, H, W, C]``) and applies sigmoid, grid
  offsets and exp in place.

Anything the fast path cannot handle (CUDA, other dtypes, a PyTorch without the oneDNN
operator) falls back to ``conv2d`` + activation with the same structure.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BaseConv, Focus, SPPBottleneck, space_to_depth
from .fuse import fuse_conv_bn
from .head import YOLOXHead, make_grid

#: oneDNN post-op names of the activations YOLOX uses.
_ONEDNN_POSTOPS = {nn.SiLU: "swish", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Identity: "none"}


def onednn_available() -> bool:
    """Whether this PyTorch has oneDNN and its fused convolution + activation operator."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class ConvAct(nn.Module):
    """``act(conv2d(x, weight, bias))`` with BN already folded in; one oneDNN call on CPU."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module, onednn: bool) -> None:
        super().__init__()
        self.register_buffer("weight", conv.weight.detach().clone())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.stride, self.padding = list(conv.stride), list(conv.padding)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.act = act
        self.postop = _ONEDNN_POSTOPS.get(type(act))
        self.postop_scalars = [act.negative_slope] if isinstance(act, nn.LeakyReLU) else []
        self.onednn = onednn and self.postop is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn and x.is_cpu and x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups,
                self.postop, self.postop_scalars, "",
            )  # fmt: skip
        return self.act(F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups))

    def extra_repr(self) -> str:
        cout, cin, kh, kw = self.weight.shape
        return f"{cin * self.groups}, {cout}, kernel=({kh}, {kw}), stride={tuple(self.stride)}, groups={self.groups}, onednn={self.onednn}"


def focus_as_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """The 2k x 2k stride-2 convolution equal to space-to-depth followed by ``conv`` (k x k, stride 1).

    Block ``b`` of the 4 * C space-to-depth channels holds input pixel ``(2i + dy, 2j + dx)``
    with ``(dy, dx) = (0, 0), (1, 0), (0, 1), (1, 1)`` for b = 0..3. Tap ``(ky, kx)`` of
    ``conv`` at output ``(i, j)`` reads block pixel ``(i + ky - p, j + kx - p)``, i.e. input
    pixel ``(2i + 2ky + dy - 2p, 2j + 2kx + dx - 2p)``: a kernel of size 2k, stride 2, padding
    2p. The zero padding of the block image is exactly the zero padding of the input (even
    input sizes, which YOLOX's multiples of 32 are).
    """
    (k, _), (p, _) = conv.kernel_size, conv.padding
    cin = conv.in_channels // 4
    weight = conv.weight.detach()
    big = weight.new_zeros(conv.out_channels, cin, 2 * k, 2 * k)
    for block, (dy, dx) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        big[:, :, dy::2, dx::2] = weight[:, block * cin : (block + 1) * cin]
    out = nn.Conv2d(cin, conv.out_channels, 2 * k, 2, 2 * p, bias=conv.bias is not None)
    out = out.to(device=weight.device, dtype=weight.dtype).requires_grad_(False)
    out.weight.copy_(big)
    if conv.bias is not None:
        out.bias.copy_(conv.bias.detach())
    return out


class CascadedSPP(nn.Module):
    """SPPBottleneck whose pools k, 2k-1, 3k-2, ... are computed as repeated k x k pools."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, kernel: int, count: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2
        self.kernel, self.count = kernel, count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [self.conv1(x)]
        for _ in range(self.count):
            pooled.append(F.max_pool2d(pooled[-1], self.kernel, 1, self.kernel // 2))
        return self.conv2(torch.cat(pooled, 1))


def _cascade_kernel(spp: SPPBottleneck) -> int | None:
    """k when the pools are stride-1, 'same'-padded and of sizes k, 2k-1, 3k-2, ..."""
    pools = list(spp.m)
    if not pools or not all(isinstance(p, nn.MaxPool2d) for p in pools):
        return None
    sizes = [p.kernel_size for p in pools]
    if not all(isinstance(s, int) and s % 2 == 1 for s in sizes):
        return None
    if not all(p.stride in (1, (1, 1)) and p.padding == p.kernel_size // 2 and p.dilation == 1 for p in pools):
        return None
    if any(p.ceil_mode for p in pools):
        return None
    k = sizes[0]
    return k if all(b == a + k - 1 for a, b in itertools.pairwise(sizes)) else None


class InferenceHead(nn.Module):
    """The head in eval mode, writing its decoded output into one preallocated tensor.

    Same values as :class:`~yoloxkit.models.head.YOLOXHead`: columns (cx, cy, w, h, obj, cls...),
    ``cx = (tx + gx) * s``, ``w = exp(tw) * s``, obj/cls through sigmoid; raw box columns when
    ``decode_in_inference`` is off.
    """

    def __init__(self, head: YOLOXHead) -> None:
        super().__init__()
        self.num_classes = head.num_classes
        self.strides = head.strides
        self.decode_in_inference = head.decode_in_inference
        self.stems, self.cls_convs, self.reg_convs = head.stems, head.cls_convs, head.reg_convs
        self.cls_preds, self.reg_preds, self.obj_preds = head.cls_preds, head.reg_preds, head.obj_preds
        self._grid_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _grid(self, shapes: list[tuple[int, int]], dtype: torch.dtype, device: torch.device):
        key = (tuple(shapes), dtype, device)
        if key not in self._grid_cache:
            self._grid_cache[key] = make_grid(shapes, self.strides, dtype, device)
        return self._grid_cache[key]

    def forward(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        levels = []
        for k, x in enumerate(features):
            x = self.stems[k](x)
            cls_feat = self.cls_convs[k](x)
            reg_feat = self.reg_convs[k](x)
            levels.append((self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat), self.cls_preds[k](cls_feat)))
        reg0 = levels[0][0]
        batch = reg0.shape[0]
        shapes = [tuple(reg.shape[2:]) for reg, _, _ in levels]
        total = sum(h * w for h, w in shapes)
        out = torch.empty(batch, total, 5 + self.num_classes, dtype=reg0.dtype, device=reg0.device)
        start = 0
        for (reg, obj, cls), (h, w) in zip(levels, shapes):
            rows = out[:, start : start + h * w].view(batch, h, w, -1)
            # [B, C, H, W] -> [B, H, W, C]: a view, and a dense one in channels-last memory.
            rows[..., :4].copy_(reg.permute(0, 2, 3, 1))
            rows[..., 4:5].copy_(obj.permute(0, 2, 3, 1))
            rows[..., 5:].copy_(cls.permute(0, 2, 3, 1))
            start += h * w
        out[..., 4:].sigmoid_()
        if self.decode_in_inference:
            grid, strides = self._grid(shapes, out.dtype, out.device)
            out[..., :2].add_(grid).mul_(strides)
            out[..., 2:4].exp_().mul_(strides)
        return out


class InferenceYOLOX(nn.Module):
    """The optimised network (eval only): ``[B, 3, H, W]`` in, decoded ``[B, N, 5 + C]`` out."""

    def __init__(self, backbone: nn.Module, head: nn.Module, num_classes: int, channels_last: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> InferenceYOLOX:
        if mode:
            raise RuntimeError("an inference-optimised copy cannot be trained; train the original model")
        return super().train(False)


def _fold(base: BaseConv) -> nn.Conv2d:
    return fuse_conv_bn(base.conv, base.bn) if isinstance(base.bn, nn.BatchNorm2d) else base.conv


def _convert(module: nn.Module, onednn: bool, focus_conv: bool, cascade_spp: bool) -> nn.Module | None:
    """The replacement of one module, or None to recurse into its children."""
    if isinstance(module, Focus):
        conv = _fold(module.conv)
        if focus_conv and conv.kernel_size[0] == conv.kernel_size[1] and conv.stride == (1, 1):
            return ConvAct(focus_as_conv(conv), module.conv.act, onednn)
        return nn.Sequential(_SpaceToDepth(), ConvAct(conv, module.conv.act, onednn))
    if isinstance(module, BaseConv):
        return ConvAct(_fold(module), module.act, onednn)
    if isinstance(module, nn.Conv2d):  # the head's prediction convs
        return ConvAct(module, nn.Identity(), onednn)
    if isinstance(module, SPPBottleneck) and cascade_spp:
        k = _cascade_kernel(module)
        if k is not None:
            conv1 = _convert(module.conv1, onednn, focus_conv, cascade_spp)
            conv2 = _convert(module.conv2, onednn, focus_conv, cascade_spp)
            return CascadedSPP(conv1, conv2, k, len(module.m))
    return None


def _replace_children(module: nn.Module, convert) -> None:
    for name, child in list(module.named_children()):
        new = convert(child)
        if new is None:
            _replace_children(child, convert)
        else:
            setattr(module, name, new)


@torch.no_grad()
def optimize_for_inference(
    model: nn.Module,
    *,
    onednn: bool | None = None,
    channels_last: bool | None = None,
    focus_conv: bool = True,
    cascade_spp: bool = True,
    fast_head: bool = True,
) -> nn.Module:
    """An eval-only optimised copy of a YOLOX ``model`` (see the module docstring).

    Every step can be switched off (for measurements); ``None`` means "where it helps":
    oneDNN fusion and channels-last on CPU. The copy holds its own tensors, so later changes
    to ``model`` do not reach it: build a new one when the weights change (``Detector`` does).
    """
    net = copy.deepcopy(model).eval().requires_grad_(False)
    first = next(net.parameters())
    if onednn is None:
        onednn = first.is_cpu and first.dtype == torch.float32
    onednn = onednn and onednn_available()
    if channels_last is None:
        channels_last = first.is_cpu
    _replace_children(net, lambda m: _convert(m, onednn, focus_conv, cascade_spp))
    head = net.head
    if fast_head and isinstance(head, YOLOXHead):
        head = InferenceHead(head)
    optimized = InferenceYOLOX(net.backbone, head, model.head.num_classes, channels_last)
    if channels_last:
        optimized = optimized.to(memory_format=torch.channels_last)
    return optimized.eval()


class _SpaceToDepth(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return space_to_depth(x)
