"""The YOLOX training loss, term for term the reference's ``YOLOXHead.get_losses``.

With ``N = max(number of positives in the batch, 1)``:

* ``iou``: 5 * sum over positives of (1 - IoU(pred, gt)^2) / N (already weighted, as logged by
  the reference);
* ``obj``: sum over all anchors of BCE-with-logits(obj, positive) / N;
* ``cls``: sum over positives and classes of BCE-with-logits(cls, onehot(gt class) * IoU) / N,
  the IoU-aware soft target carrying no gradient;
* ``l1``: with ``use_l1`` (the no-augmentation epochs), sum over positives of
  |raw (tx, ty, tw, th) - (gx/s - cx, gy/s - cy, log(w/s + 1e-8), log(h/s + 1e-8))| / N, else 0;
* ``total`` = iou + obj + cls + l1.

Two options change ``cls`` (both off by default, as the reference): ``class_weights`` (a ``[C]``
tensor) multiplies each positive's classification term by the weight of its ground-truth class
(class-imbalance weighting); ``label_smoothing`` eps turns every class target ``t`` into
``t (1 - eps) + eps / 2``.

Positives are gathered into a fixed-size buffer (bound ``B * G * candidate_topk``: each ground
truth takes at most ``candidate_topk`` anchors), so the loss, like the assigner, needs no host
synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.head import STRIDES
from .assigner import Assignment, SimOTAAssigner
from .iou import cxcywh_iou
from .positives import Positives
from .predictions import FlatPredictions, flatten_levels
from .targets import Targets

#: Added inside the log of the L1 size targets.
_L1_LOG_EPS = 1e-8
#: Added to the union of the IoU loss.
_IOU_LOSS_EPS = 1e-16


class YOLOXLoss(nn.Module):
    """``loss(levels, targets) -> {"total", "iou", "obj", "cls", "l1", "num_fg", "num_gt", "normalizer", "positives"}``.

    ``levels`` are the head's raw training outputs (``YOLOXHead.forward_levels``: one
    ``[B, 5 + C, H, W]`` map per stride, (reg, obj, cls) logits), ``targets`` a :class:`Targets`.
    Every value is a 0-dim tensor; ``num_fg`` / ``num_gt`` count positives / objects in the batch
    (the reference logs their ratio as its ``num_fg``). Set ``use_l1`` for the no-augmentation
    phase.

    ``forward`` = :meth:`flatten`, assign, :meth:`compute`; the box-type specific parts are
    :meth:`flatten`, :meth:`box_loss` and :meth:`l1_terms` (overridden for rotated boxes).
    """

    def __init__(
        self,
        strides: Sequence[int] = STRIDES,
        assigner: SimOTAAssigner | None = None,
        use_l1: bool = False,
        reg_weight: float = 5.0,
    ) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.assigner = assigner or SimOTAAssigner()
        self.use_l1 = use_l1
        self.reg_weight = reg_weight
        #: Maps this batch's positive count to the loss normaliser; training on several
        #: processes sets the mean over processes (the reference normalises per process).
        self.normalizer: Callable[[torch.Tensor], torch.Tensor] = _identity
        self.class_weights: torch.Tensor | None = None  # [C]: weight of each positive's class term
        self.label_smoothing = 0.0

    def extra_repr(self) -> str:
        return f"strides={self.strides}, assigner={self.assigner}, use_l1={self.use_l1}, reg_weight={self.reg_weight}"

    def forward(self, levels: Sequence[torch.Tensor], targets: Targets) -> dict[str, torch.Tensor]:
        preds = self.flatten(levels)
        assignment = self.assigner(preds, targets)
        return self.compute(preds, targets, assignment)

    def flatten(self, levels: Sequence[torch.Tensor]) -> FlatPredictions:
        """The head's raw maps as :class:`FlatPredictions` (:func:`flatten_levels`)."""
        return flatten_levels(levels, self.strides)

    def compute(self, preds: FlatPredictions, targets: Targets, assignment: Assignment) -> dict[str, torch.Tensor]:
        """The loss terms for a given assignment (``forward`` = flatten, assign, compute)."""
        positives = self.normalizer(assignment.num_fg.float())
        num_fg = positives.clamp(min=1)
        pos = Positives.gather(preds, targets, assignment, self.assigner.candidate_topk)

        loss_iou = _masked_sum(self.box_loss(pos), pos.valid) / num_fg

        obj_target = assignment.fg.float()
        loss_obj = F.binary_cross_entropy_with_logits(preds.obj, obj_target, reduction="none").sum() / num_fg

        cls_target = F.one_hot(pos.gt_classes, pos.cls_logits.shape[1]) * pos.iou[:, None]
        if self.label_smoothing:
            cls_target = cls_target * (1 - self.label_smoothing) + self.label_smoothing / 2
        loss_cls = F.binary_cross_entropy_with_logits(pos.cls_logits, cls_target, reduction="none")
        if self.class_weights is not None:
            loss_cls = loss_cls * self.class_weights.to(loss_cls)[pos.gt_classes][:, None]
        loss_cls = _masked_sum(loss_cls, pos.valid[:, None]) / num_fg

        if self.use_l1:
            predicted, target = self.l1_terms(pos)
            loss_l1 = _masked_sum((predicted - target).abs(), pos.valid[:, None]) / num_fg
        else:
            loss_l1 = num_fg.new_zeros(())

        loss_iou = self.reg_weight * loss_iou
        return {
            "total": loss_iou + loss_obj + loss_cls + loss_l1,
            "iou": loss_iou,
            "obj": loss_obj,
            "cls": loss_cls,
            "l1": loss_l1,
            "num_fg": assignment.num_fg.float(),
            "num_gt": targets.num_gt.float(),
            "normalizer": num_fg.detach(),  # N: gradient accumulation un-normalises with it ...
            "positives": positives.detach(),  # ... and divides by the sum of these over the accumulated batches
        }

    def box_loss(self, pos: Positives) -> torch.Tensor:
        """``1 - IoU^2`` ``[K]`` of each positive's box with its ground truth (``+1e-16`` in the union)."""
        ious = cxcywh_iou(pos.finite_pred_boxes().unbind(1), pos.gt_boxes.unbind(1), _IOU_LOSS_EPS)
        return 1 - ious**2

    def l1_terms(self, pos: Positives) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (tx, ty, tw, th) ``[K, 4]`` and their targets (cx/s - gx, cy/s - gy, log(w/s + eps), log(h/s + eps))."""
        scaled = pos.gt_boxes[:, :4] / pos.strides
        return pos.raw_boxes, torch.cat([scaled[:, :2] - pos.cells, torch.log(scaled[:, 2:] + _L1_LOG_EPS)], 1)


def _masked_sum(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` where ``valid`` (broadcast); padding rows give neither value nor gradient."""
    return torch.where(valid, values, 0.0).sum()


def _identity(value: torch.Tensor) -> torch.Tensor:
    return value
