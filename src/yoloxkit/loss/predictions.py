"""The head's raw training outputs, flattened over levels and decoded, for assignment and loss.

Layout is channel-first, anchors last (``[B, channels, A]``): the concatenation of the
row-major flattened levels, finest level first, is already contiguous in that layout, and every
per-anchor operation of the assigner then runs over a contiguous last dimension. Anchor ``a``
is the same anchor as row ``a`` of the reference's ``[B, A, 5 + C]`` outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..models.head import make_grid


@lru_cache(maxsize=64)
def anchor_grid(
    level_shapes: tuple[tuple[int, int], ...], strides: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell indices ``[2, A]`` (x, y) and strides ``[A]`` in float32, cached per shape and device."""
    grid, level_strides = make_grid(list(level_shapes), strides, torch.float32, device)
    return grid[0].t().contiguous(), level_strides[0, :, 0].contiguous()


@dataclass(frozen=True)
class FlatPredictions:
    """Per-anchor predictions of a batch.

    ``raw``: ``[B, 5 + C, A]`` logits (tx, ty, tw, th, obj, cls...), float32, with autograd;
    ``boxes``: ``[B, 4, A]`` decoded (cx, cy, w, h) in input pixels, with autograd;
    ``grid``: ``[2, A]`` cell indices (x, y); ``strides``: ``[A]``;
    ``layout``: ((H, W), stride) of each level, in anchor order.
    """

    raw: torch.Tensor
    boxes: torch.Tensor
    grid: torch.Tensor
    strides: torch.Tensor
    layout: tuple[tuple[tuple[int, int], int], ...]

    @property
    def obj(self) -> torch.Tensor:
        """Objectness logits ``[B, A]``."""
        return self.raw[:, 4]

    @property
    def cls(self) -> torch.Tensor:
        """Class logits ``[B, C, A]``."""
        return self.raw[:, 5:]


def flatten_levels(levels: Sequence[torch.Tensor], strides: Sequence[int]) -> FlatPredictions:
    """Flatten the head's raw per-level maps ``[B, 5 + C, H, W]`` and decode their boxes.

    Decoding is the head's: ``(t_xy + cell) * stride`` and ``exp(t_wh) * stride``. Everything is
    computed in float32, whatever the dtype of the maps (autocast).
    """
    raw = torch.cat([level.flatten(2) for level in levels], 2).float()
    shapes = tuple((level.shape[2], level.shape[3]) for level in levels)
    grid, level_strides = anchor_grid(shapes, tuple(strides), raw.device)
    boxes = torch.cat([(raw[:, :2] + grid) * level_strides, torch.exp(raw[:, 2:4]) * level_strides], 1)
    return FlatPredictions(raw, boxes, grid, level_strides, tuple(zip(shapes, strides)))
