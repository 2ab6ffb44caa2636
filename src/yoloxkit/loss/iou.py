"""IoU of (cx, cy, w, h) boxes with the reference's operation order (bit-identical values)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def cxcywh_iou(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], eps: float = 0.0) -> torch.Tensor:
    """IoU of boxes given as their four components ``(cx, cy, w, h)``, broadcast against each other.

    Pass ``[B, G, 1]`` components for one side and ``[B, 1, A]`` for the other to get every pair
    ``[B, G, A]`` (the reference's ``bboxes_iou(..., xyxy=False)``, ``eps = 0``), or aligned
    ``[K]`` components for matched pairs (the reference's ``IouLoss``, ``eps = 1e-16``).
    """
    a_cx, a_cy, a_w, a_h = a
    b_cx, b_cy, b_w, b_h = b
    left = torch.maximum(a_cx - a_w / 2, b_cx - b_w / 2)
    right = torch.minimum(a_cx + a_w / 2, b_cx + b_w / 2)
    top = torch.maximum(a_cy - a_h / 2, b_cy - b_h / 2)
    bottom = torch.minimum(a_cy + a_h / 2, b_cy + b_h / 2)
    overlaps = ((left < right) & (top < bottom)).to(left.dtype)
    inter = (right - left) * (bottom - top) * overlaps
    union = a_w * a_h + b_w * b_h - inter
    return inter / (union + eps if eps else union)
