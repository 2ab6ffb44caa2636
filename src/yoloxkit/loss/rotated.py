"""Rotated YOLOX training: rotated SimOTA assignment and the loss, as ai4rs ``RotatedYOLOXHead``.

Head output layout (the contract with ``yoloxkit.models.rotated``)
------------------------------------------------------------------
In training mode the rotated head returns one raw map per stride (8, 16, 32, finest first)::

    level[k]: [B, 4 + 1 + 1 + C, H_k, W_k]   channels (tx, ty, tw, th, angle, obj, cls_0 .. cls_{C-1})

* ``tx, ty, tw, th``: the YOLOX box regression (``conv_reg``), decoded per cell ``(i, j)`` (row
  ``i``, column ``j``, stride ``s``) as ``cx = (tx + j) * s``, ``cy = (ty + i) * s``,
  ``w = exp(tw) * s``, ``h = exp(th) * s`` (the same decoding as the axis-aligned head, and
  ai4rs' ``prior + d * s`` with the cell-corner prior);
* ``angle``: ONE channel (``conv_ang``, the ``PseudoAngleCoder``: the raw value is the angle in
  radians; for output it is wrapped into ``[-pi/2, pi/2)`` with ``(a + pi/2) mod pi - pi/2``, no
  w/h swap);
* ``obj``: objectness logit; ``cls``: ``C`` class logits (sigmoid, single label per anchor).

Every channel is a raw logit/regression value (no activation); the loss flattens the levels
row-major (``y`` outer, ``x`` inner), level after level, as the axis-aligned loss does.

Targets are a :class:`yoloxkit.loss.Targets` whose ``boxes`` are ``[B, G, 5]`` rboxes
``(cx, cy, w, h, angle)`` in network-input pixels and radians; build them with
:func:`rotated_targets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from ..models.head import STRIDES
from ..ops.rotated import rotated_iou_aligned, rotated_iou_matched
from .assigner import SimOTAAssigner, SimOTAVariant
from .positives import Positives
from .predictions import FlatPredictions, flatten_levels
from .targets import Targets
from .yolox_loss import YOLOXLoss

#: Lower clamp of the IoU in the loss (``RotatedIoULoss(eps=1e-16)``).
_IOU_LOSS_EPS = 1e-16
#: The angle is divided by this in the L1 term (config ``angle_norm_factor``).
ANGLE_NORM_FACTOR = 5.0


def rotated_targets(per_image: Sequence[torch.Tensor], device: torch.device | str | None = None) -> Targets:
    """Pad per-image ``[n_i, 6]`` rows (class, cx, cy, w, h, angle) into rotated :class:`Targets`."""
    return Targets.from_list(per_image, device, box_dim=5)


def flatten_rotated_levels(levels: Sequence[torch.Tensor], strides: Sequence[int]) -> FlatPredictions:
    """Flatten the rotated head's maps (layout in the module docstring) into :class:`FlatPredictions`.

    ``raw`` keeps the axis-aligned layout ``[B, 5 + C, A]`` (tx, ty, tw, th, obj, cls), so the
    axis-aligned class cost and gathering apply unchanged; ``boxes`` is ``[B, 5, A]``
    (cx, cy, w, h, angle) with the **raw** angle: every use in training is pi-periodic (IoU),
    and the L1 term needs the raw value, as the reference.
    """
    axis_aligned = flatten_levels([torch.cat([level[:, :4], level[:, 5:]], 1) for level in levels], strides)
    angle = torch.cat([level[:, 4:5].flatten(2) for level in levels], 2).float()
    return dataclasses.replace(axis_aligned, boxes=torch.cat([axis_aligned.boxes, angle], 1))


class RotatedSimOTAAssigner(SimOTAAssigner):
    """ai4rs' ``RotatedSimOTAAssigner``, batched: ``assigner(predictions, targets) -> Assignment``.

    Candidates are anchors whose centre is strictly inside a ground-truth rbox (rotated test)
    or within ``center_radius`` strides of its centre (an axis-aligned square, not rotated);
    cost = ``cls_weight`` * class BCE + ``iou_weight`` * (-log(rotated IoU + 1e-7)) + 1e5 outside
    "box and centre"; dynamic k from the top ``candidate_topk`` IoUs; conflicts go to the
    cheapest ground truth (the cost and the matching are :class:`SimOTAAssigner`'s). Exact
    rotated IoUs are computed only for candidate pairs (one host synchronisation to list them).
    """

    #: mmdet's ``SimOTAAssigner`` EPS.
    iou_cost_eps = 1e-7

    def __init__(
        self,
        center_radius: float = 2.5,
        candidate_topk: int = 10,
        iou_weight: float = 3.0,
        cls_weight: float = 1.0,
    ) -> None:
        super().__init__(SimOTAVariant("rotated", center_radius, True, 1e5), candidate_topk, iou_weight, cls_weight)

    def __repr__(self) -> str:
        return (
            super()
            .__repr__()
            .replace(
                "SimOTAAssigner(variant='rotated'",
                f"RotatedSimOTAAssigner(center_radius={self.variant.center_radius}",
            )
        )

    def geometry(self, preds: FlatPredictions, targets: Targets) -> tuple[torch.Tensor, torch.Tensor]:
        """Penalty-free pairs ``[B, G, A]`` (in box AND in centre square) and candidate anchors ``[B, A]``."""
        centres = (preds.grid + 0.5) * preds.strides  # [2, A] anchor centres
        cx, cy, w, h, angle = targets.boxes.unsqueeze(-1).unbind(2)  # [B, G, 1] each
        dx, dy = centres[0] - cx, centres[1] - cy
        cos, sin = torch.cos(angle), torch.sin(angle)
        along, across = cos * dx + sin * dy, cos * dy - sin * dx  # offset in the box frame
        in_box = (along.abs() < w / 2) & (across.abs() < h / 2)
        radius = preds.strides * self.variant.center_radius
        in_centre = (dx.abs() < radius) & (dy.abs() < radius)
        candidates = ((in_box | in_centre) & targets.mask.unsqueeze(2)).any(1)
        return in_box & in_centre, candidates

    def pairwise_iou(self, preds: FlatPredictions, targets: Targets, usable: torch.Tensor) -> torch.Tensor:
        """Exact rotated IoU ``[B, G, A]`` of the usable (ground truth, anchor) pairs, 0 elsewhere."""
        image, gt, anchor = torch.nonzero(usable, as_tuple=True)
        values = rotated_iou_matched(targets.boxes[image, gt], preds.boxes.detach()[image, :, anchor])
        return torch.zeros(usable.shape, device=usable.device).index_put_((image, gt, anchor), values.float())


class RotatedYOLOXLoss(YOLOXLoss):
    """``loss(levels, targets) -> {"total", "iou", "obj", "cls", "l1", "num_fg", "num_gt"}``.

    ai4rs ``RotatedYOLOXHead.loss_by_feat`` with ``N = max(positives in the batch, 1)`` (through
    ``normalizer``, as :class:`YOLOXLoss`, whose ``obj``/``cls`` terms and normalisation it shares):

    * ``iou``: ``reg_weight`` (5) * sum over positives of (1 - IoU^2) / N, the exact
      differentiable rotated IoU clamped at 1e-16 (``RotatedIoULoss(mode='square')``);
    * ``obj``: sum over all anchors of BCE-with-logits(obj, positive) / N;
    * ``cls``: sum over positives and classes of BCE-with-logits(cls, onehot * IoU) / N, the IoU
      from the assigner (no gradient);
    * ``l1`` (``use_l1``, the last no-mosaic epochs): sum over positives of
      ``|(tx, ty, tw, th, angle_raw / 5) - (gx/s - j, gy/s - i, log(gw/s + 1e-8), log(gh/s + 1e-8), g_angle / 5)|``
      / N, the ground-truth angle as given (not regularised), as the reference;
    * ``total`` = iou + obj + cls + l1.
    """

    def __init__(
        self,
        strides: Sequence[int] = STRIDES,
        assigner: RotatedSimOTAAssigner | None = None,
        use_l1: bool = False,
        reg_weight: float = 5.0,
        angle_norm_factor: float = ANGLE_NORM_FACTOR,
    ) -> None:
        super().__init__(strides, assigner or RotatedSimOTAAssigner(), use_l1, reg_weight)
        self.angle_norm_factor = angle_norm_factor

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, angle_norm_factor={self.angle_norm_factor}"

    def flatten(self, levels: Sequence[torch.Tensor]) -> FlatPredictions:
        """The rotated head's raw maps as :class:`FlatPredictions` (:func:`flatten_rotated_levels`)."""
        return flatten_rotated_levels(levels, self.strides)

    def box_loss(self, pos: Positives) -> torch.Tensor:
        """``1 - IoU^2`` ``[K]``, the exact rotated IoU of each positive with its ground truth, clamped at 1e-16."""
        ious = rotated_iou_aligned(pos.finite_pred_boxes(), pos.gt_boxes).clamp(min=_IOU_LOSS_EPS)
        return 1 - ious**2

    def l1_terms(self, pos: Positives) -> tuple[torch.Tensor, torch.Tensor]:
        """The axis-aligned L1 pair, each side extended by its angle ``/ angle_norm_factor``."""
        predicted, target = super().l1_terms(pos)
        return (
            torch.cat([predicted, pos.pred_boxes[:, 4:] / self.angle_norm_factor], 1),
            torch.cat([target, pos.gt_boxes[:, 4:] / self.angle_norm_factor], 1),
        )
