"""Building blocks of YOLOX networks.

Attribute names (``conv``, ``bn``, ``dconv``, ``pconv``, ``conv1`` ... ``m``) are part of the
checkpoint format: they reproduce Megvii's state-dict keys exactly.
"""

from __future__ import annotations

import torch
from torch import nn

#: BatchNorm settings of every YOLOX model (PyTorch momentum convention).
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def make_activation(name: str) -> nn.Module:
    """Return the activation module used by YOLOX (``silu``, ``relu`` or ``lrelu``)."""
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.1, inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected silu, relu or lrelu")


class BaseConv(nn.Module):
    """Conv2d (no bias, 'same' padding) -> BatchNorm -> activation."""

    def __init__(
        self, cin: int, cout: int, ksize: int, stride: int = 1, groups: int = 1, act: str = "silu"
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ksize, stride, (ksize - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DWConv(nn.Module):
    """Depthwise conv (``dconv``) followed by a pointwise 1x1 conv (``pconv``)."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.dconv = BaseConv(cin, cin, ksize, stride, groups=cin, act=act)
        self.pconv = BaseConv(cin, cout, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def make_conv(cin: int, cout: int, ksize: int, stride: int, depthwise: bool, act: str) -> nn.Module:
    """The 'Conv*' of the YOLOX papers: DWConv for depthwise models, else BaseConv."""
    if depthwise:
        return DWConv(cin, cout, ksize, stride, act=act)
    return BaseConv(cin, cout, ksize, stride, act=act)


class Bottleneck(nn.Module):
    """1x1 conv then 3x3 conv, with a residual connection when shapes allow it."""

    def __init__(
        self,
        cin: int,
        cout: int,
        shortcut: bool = True,
        expansion: float = 0.5,
        depthwise: bool = False,
        act: str = "silu",
    ) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv2 = make_conv(hidden, cout, 3, 1, depthwise, act)
        self.use_add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: concat of the input and stride-1 max pools of several sizes."""

    def __init__(
        self, cin: int, cout: int, kernels: tuple[int, ...] = (5, 9, 13), act: str = "silu"
    ) -> None:
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels)
        self.conv2 = BaseConv(hidden * (len(kernels) + 1), cout, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x, *(pool(x) for pool in self.m)], dim=1))


class CSPLayer(nn.Module):
    """Cross-stage partial layer: a bottleneck path and a shortcut path, concatenated."""

    def __init__(
        self,
        cin: int,
        cout: int,
        n: int = 1,
        shortcut: bool = True,
        expansion: float = 0.5,
        depthwise: bool = False,
        act: str = "silu",
    ) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv2 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv3 = BaseConv(2 * hidden, cout, 1, 1, act=act)
        self.m = nn.Sequential(
            *(Bottleneck(hidden, hidden, shortcut, 1.0, depthwise, act) for _ in range(n))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """Focus slicing: [even/even, odd rows/even cols, even rows/odd cols, odd/odd] on channels."""
    return torch.cat(
        [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1
    )


class Focus(nn.Module):
    """Space-to-depth (x2 downsampling, 4x channels) followed by a BaseConv."""

    def __init__(self, cin: int, cout: int, ksize: int = 1, stride: int = 1, act: str = "silu") -> None:
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, ksize, stride, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(space_to_depth(x))
