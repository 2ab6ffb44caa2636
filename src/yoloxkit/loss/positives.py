"""The positive anchors of an assignment, gathered into a fixed-size buffer for the loss terms."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .assigner import Assignment
from .predictions import FlatPredictions
from .targets import Targets


@dataclass(frozen=True)
class Positives:
    """Positive anchors gathered into ``K`` rows, in batch order; ``valid`` marks the real rows.

    Padding rows hold other anchors with a unit ground-truth box and class 0, so that every
    value stays finite; the loss masks them out. Boxes have ``D`` values: 4 (cx, cy, w, h) or
    5 with the angle for rotated boxes.
    """

    valid: torch.Tensor  # [K]
    raw_boxes: torch.Tensor  # [K, 4] raw (tx, ty, tw, th)
    pred_boxes: torch.Tensor  # [K, D] decoded
    cls_logits: torch.Tensor  # [K, C]
    gt_boxes: torch.Tensor  # [K, D]
    gt_classes: torch.Tensor  # [K]
    iou: torch.Tensor  # [K] IoU of prediction and ground truth at assignment
    cells: torch.Tensor  # [K, 2] grid cell (x, y)
    strides: torch.Tensor  # [K, 1]

    @classmethod
    def gather(cls, preds: FlatPredictions, targets: Targets, assignment: Assignment, topk: int) -> Positives:
        """At most ``topk`` positives per ground truth, so ``K = B * G * topk`` rows suffice."""
        capacity = min(assignment.fg.numel(), targets.mask.numel() * topk)
        # Positives first, in batch order (a stable sort: no host synchronisation, any device).
        flat = torch.argsort((~assignment.fg.flatten()).byte(), stable=True)[:capacity]
        valid = torch.arange(capacity, device=flat.device) < assignment.num_fg
        image, anchor = flat // assignment.fg.shape[1], flat % assignment.fg.shape[1]
        gt = assignment.gt_index[image, anchor]
        rows = preds.raw[image, :, anchor]  # [K, 5 + C]
        return cls(
            valid=valid,
            raw_boxes=rows[:, :4],
            pred_boxes=preds.boxes[image, :, anchor],
            cls_logits=rows[:, 5:],
            gt_boxes=torch.where(valid[:, None], targets.boxes[image, gt], 1.0),
            gt_classes=targets.classes[image, gt].masked_fill(~valid, 0),
            iou=assignment.iou[image, anchor],
            cells=preds.grid[:, anchor].t(),
            strides=preds.strides[anchor].unsqueeze(1),
        )

    def finite_pred_boxes(self) -> torch.Tensor:
        """``pred_boxes`` with padding rows replaced by their ground truth: IoUs stay finite there."""
        return torch.where(self.valid[:, None], self.pred_boxes, self.gt_boxes)
