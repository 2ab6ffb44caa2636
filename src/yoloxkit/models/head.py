"""The decoupled YOLOX head and the decoding of its outputs into boxes."""

from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import BaseConv, make_conv

#: Strides of the three pyramid levels, finest first.
STRIDES = (8, 16, 32)


def make_grid(
    level_shapes: list[tuple[int, int]], strides: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell indices ``[1, N, 2]`` (x, y) and strides ``[1, N, 1]`` for row-major flattened levels."""
    grids, level_strides = [], []
    for (h, w), stride in zip(level_shapes, strides):
        ys, xs = torch.meshgrid(
            torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
        )
        grids.append(torch.stack((xs, ys), 2).reshape(1, -1, 2).to(dtype))
        level_strides.append(torch.full((1, h * w, 1), stride, dtype=dtype, device=device))
    return torch.cat(grids, 1), torch.cat(level_strides, 1)


class YOLOXHead(nn.Module):
    """Decoupled head: per level a stem, a classification tower and a regression tower.

    In eval mode the output is ``[B, N, 5 + C]`` with obj/cls probabilities and, when
    ``decode_in_inference`` is set, boxes decoded to (cx, cy, w, h) in input pixels.
    In training mode the raw per-level maps ``[B, 5 + C, H, W]`` are returned for the loss.
    """

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        in_channels: tuple[int, int, int] = (256, 512, 1024),
        depthwise: bool = False,
        act: str = "silu",
        strides: tuple[int, ...] = STRIDES,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        hidden = int(256 * width)
        self.num_classes = num_classes
        self.strides = tuple(strides)
        self.decode_in_inference = True

        def tower() -> nn.Sequential:
            return nn.Sequential(
                make_conv(hidden, hidden, 3, 1, depthwise, act),
                make_conv(hidden, hidden, 3, 1, depthwise, act),
            )

        levels = range(len(in_channels))
        # Registration order defines the state-dict order of Megvii checkpoints (stems last).
        self.cls_convs = nn.ModuleList(tower() for _ in levels)
        self.reg_convs = nn.ModuleList(tower() for _ in levels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, num_classes, 1) for _ in levels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in levels)
        self.obj_preds = nn.ModuleList(nn.Conv2d(hidden, 1, 1) for _ in levels)
        self.stems = nn.ModuleList(BaseConv(in_channels[k], hidden, 1, 1, act=act) for k in levels)
        self.initialize_biases(prior_prob)
        self._grid_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def initialize_biases(self, prior_prob: float) -> None:
        """Set cls/obj biases so that every initial probability equals ``prior_prob``."""
        bias = -math.log((1 - prior_prob) / prior_prob)
        for conv in (*self.cls_preds, *self.obj_preds):
            nn.init.constant_(conv.bias, bias)

    def forward_levels(self, features: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        """Raw per-level logits ``[B, 4 + 1 + C, H, W]`` ordered (reg, obj, cls)."""
        outputs = []
        for k, x in enumerate(features):
            x = self.stems[k](x)
            cls_logits = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            outputs.append(
                torch.cat([self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat), cls_logits], 1)
            )
        return outputs

    def forward(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor | list[torch.Tensor]:
        levels = self.forward_levels(features)
        if self.training:
            return levels
        flat = []
        for out in levels:
            probs = torch.cat([out[:, :4], out[:, 4:].sigmoid()], 1)
            flat.append(probs.flatten(start_dim=2))
        outputs = torch.cat(flat, 2).permute(0, 2, 1)
        if not self.decode_in_inference:
            return outputs
        return self.decode(outputs, [tuple(out.shape[2:]) for out in levels])

    def grid(self, level_shapes: list[tuple[int, int]], dtype: torch.dtype, device: torch.device):
        """Cached :func:`make_grid` for these level shapes."""
        key = (tuple(level_shapes), dtype, device)
        if key not in self._grid_cache:
            self._grid_cache[key] = make_grid(level_shapes, self.strides, dtype, device)
        return self._grid_cache[key]

    def decode(self, outputs: torch.Tensor, level_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Raw (tx, ty, tw, th) -> (cx, cy, w, h): ``(t + cell) * stride`` and ``exp(t) * stride``."""
        grid, strides = self.grid(level_shapes, outputs.dtype, outputs.device)
        return torch.cat(
            [
                (outputs[..., :2] + grid) * strides,
                torch.exp(outputs[..., 2:4]) * strides,
                outputs[..., 4:],
            ],
            -1,
        )
