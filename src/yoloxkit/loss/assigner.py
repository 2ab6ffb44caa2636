"""SimOTA label assignment, batched over images, equal to the reference's per-image loop.

The reference (``YOLOXHead.get_assignments`` / ``simota_matching``) loops over images and,
inside, over ground truths, with host synchronisations and a ``G x A x C`` class-cost tensor.
Here one pass handles the whole batch on padded ``[B, G, A]`` tensors: anchors outside every
candidate region and padded ground-truth rows get an infinite cost instead of being cut out,
dynamic-k is one top-k over the batch, and the class cost is computed separably,

    sum_c BCE(p_c, onehot(g)_c) = sum_c -log(1 - p_c) + log(1 - p_g) - log(p_g)

(each log clamped at -100 as torch's ``binary_cross_entropy`` does), from a ``[B, C, A]``
probability tensor and a ``[B, G, A]`` gather. Nothing in it waits for the host.

Two variants (section 4 of ``yolox-reference.md``):

* ``original``: candidates are anchors whose centre is inside a ground-truth box or within
  2.5 strides of its centre; cost penalty 1e5 unless both hold. The released Megvii weights
  were trained with it, and MMDetection implements it. The default.
* ``megvii2023``: candidates are anchors within 1.5 strides of a ground-truth centre (the box is
  not used); penalty 1e6 outside it. Megvii's code since January 2023 (PR #1589) and
  pixeltable-yolox 0.4.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .iou import cxcywh_iou
from .predictions import FlatPredictions
from .targets import Targets

#: Clamp of the log terms in torch's ``binary_cross_entropy``.
_LOG_CLAMP = -100.0


@dataclass(frozen=True)
class SimOTAVariant:
    """Geometry and penalty of one SimOTA variant."""

    name: str
    center_radius: float  # centre region: ground-truth centre +- radius * anchor stride
    use_box: bool  # the ground-truth box is a candidate region too, and the penalty-free region
    #              # is box AND centre instead of centre alone
    penalty: float  # added to the cost of pairs outside the penalty-free region


VARIANTS: dict[str, SimOTAVariant] = {
    "original": SimOTAVariant("original", 2.5, True, 1e5),
    "megvii2023": SimOTAVariant("megvii2023", 1.5, False, 1e6),
}


@dataclass(frozen=True)
class Assignment:
    """Result of SimOTA for a batch of ``B`` images with ``A`` anchors each.

    ``fg``: ``[B, A]`` bool, positive anchors; ``gt_index``: ``[B, A]`` int64, the row of the
    matched ground truth in :class:`Targets` (0 where not positive); ``iou``: ``[B, A]`` float32,
    IoU of the predicted box with its ground truth (0 where not positive); ``num_fg``: 0-dim
    int64, positives in the batch.
    """

    fg: torch.Tensor
    gt_index: torch.Tensor
    iou: torch.Tensor
    num_fg: torch.Tensor


class SimOTAAssigner:
    """Batched SimOTA: ``assigner(predictions, targets) -> Assignment`` (no gradient).

    ``variant`` is ``"original"`` (default) or ``"megvii2023"`` (see the module docstring) or a
    :class:`SimOTAVariant`; ``candidate_topk`` is the number of top IoUs summed for dynamic-k;
    cost = ``cls_weight`` * class cost + ``iou_weight`` * (-log(IoU + iou_cost_eps)) + penalty.

    ``__call__`` = :meth:`geometry` (candidates), :meth:`pairwise_iou`, :meth:`cost`,
    :meth:`match`; a subclass for another box type overrides the first two and ``iou_cost_eps``.
    """

    #: Added to the IoU before its log in the IoU cost.
    iou_cost_eps: float = 1e-8

    def __init__(
        self,
        variant: str | SimOTAVariant = "original",
        candidate_topk: int = 10,
        iou_weight: float = 3.0,
        cls_weight: float = 1.0,
    ) -> None:
        if isinstance(variant, str):
            if variant not in VARIANTS:
                raise ValueError(f"unknown SimOTA variant {variant!r}; choose from {', '.join(VARIANTS)}")
            variant = VARIANTS[variant]
        self.variant = variant
        self.candidate_topk = candidate_topk
        self.iou_weight = iou_weight
        self.cls_weight = cls_weight

    def __repr__(self) -> str:
        return (
            f"SimOTAAssigner(variant={self.variant.name!r}, candidate_topk={self.candidate_topk}, "
            f"iou_weight={self.iou_weight}, cls_weight={self.cls_weight})"
        )

    @torch.no_grad()
    def __call__(self, preds: FlatPredictions, targets: Targets) -> Assignment:
        """Assign ground truths to anchors for every image of the batch at once."""
        valid = targets.mask
        penalty_free, candidates = self.geometry(preds, targets)
        usable = candidates.unsqueeze(1) & valid.unsqueeze(2)  # [B, G, A]
        ious = self.pairwise_iou(preds, targets, usable)
        return self.match(self.cost(preds, targets, ious, penalty_free, usable), ious, usable, valid)

    def pairwise_iou(self, preds: FlatPredictions, targets: Targets, usable: torch.Tensor) -> torch.Tensor:
        """IoU ``[B, G, A]`` of every ground truth with every predicted box (``usable`` unused here)."""
        return cxcywh_iou(targets.boxes.unsqueeze(-1).unbind(2), preds.boxes.detach().unsqueeze(1).unbind(2))

    def cost(
        self,
        preds: FlatPredictions,
        targets: Targets,
        ious: torch.Tensor,
        penalty_free: torch.Tensor,
        usable: torch.Tensor,
    ) -> torch.Tensor:
        """``[B, G, A]`` matching cost: class, IoU and penalty terms, infinite where not usable."""
        cost = self.class_cost(preds.obj.detach(), preds.cls.detach(), targets.classes)
        if self.cls_weight != 1.0:
            cost.mul_(self.cls_weight)
        cost += torch.log(ious + self.iou_cost_eps).mul_(-self.iou_weight)
        cost += (~penalty_free) * self.variant.penalty
        return cost.masked_fill_(~usable, float("inf"))

    def match(self, cost: torch.Tensor, ious: torch.Tensor, usable: torch.Tensor, valid: torch.Tensor) -> Assignment:
        """Dynamic-k matching of ``[B, G, A]`` costs and IoUs; ``valid`` ``[B, G]`` marks real ground truths."""
        # Dynamic k per ground truth: int(sum of its top IoUs over the candidates), at least 1.
        k_max = min(self.candidate_topk, cost.shape[2])
        top_ious = ious.masked_fill(~usable, 0.0).topk(k_max, dim=2).values
        dynamic_k = top_ious.sum(2).int().clamp_(min=1).masked_fill_(~valid, 0)

        # Each ground truth takes its dynamic_k cheapest candidates (k <= k_max always).
        order = cost.topk(k_max, dim=2, largest=False).indices  # [B, G, k_max]
        take = torch.arange(k_max, device=cost.device) < dynamic_k.unsqueeze(2)
        take &= usable.gather(2, order)
        matching = torch.zeros_like(usable).scatter_(2, order, take)

        # An anchor taken by several ground truths goes to the cheapest of all ground truths.
        count = matching.sum(1)
        fg = count > 0
        rows = torch.arange(valid.shape[1], device=cost.device, dtype=torch.int32).unsqueeze(1)
        gt_index = torch.where(count > 1, cost.min(1).indices, (matching * rows).sum(1))
        iou = ious.gather(1, gt_index.unsqueeze(1)).squeeze(1).masked_fill_(~fg, 0.0)
        return Assignment(fg, gt_index, iou, fg.sum())

    def geometry(self, preds: FlatPredictions, targets: Targets) -> tuple[torch.Tensor, torch.Tensor]:
        """Penalty-free pairs ``[B, G, A]`` and candidate anchors ``[B, A]``.

        ``preds.layout`` gives ((H, W), stride) per level in anchor order. A region test
        factorises into a column test and a row test, so each level costs ``[B, G, W]`` and
        ``[B, G, H]`` comparisons and one outer AND. Comparisons are the reference's: strictly
        inside, bounds computed with the same float32 operations (``x - left > 0`` iff ``x > left``).
        """
        cx, cy, w, h = targets.boxes.unsqueeze(-1).unbind(2)  # [B, G, 1] each
        valid = targets.mask.unsqueeze(2)
        box_x = (cx - 0.5 * w, cx + 0.5 * w)
        box_y = (cy - 0.5 * h, cy + 0.5 * h)
        free, candidates = [], []
        for (height, width), stride in preds.layout:
            xs = _anchor_centres(width, stride, cx.device)
            ys = _anchor_centres(height, stride, cx.device)
            radius = torch.tensor(float(stride), device=cx.device, dtype=torch.float32) * self.variant.center_radius
            centre_x = _between(xs, cx - radius, cx + radius)  # [B, G, W]
            centre_y = _between(ys, cy - radius, cy + radius)  # [B, G, H]
            if self.variant.use_box:
                in_x, in_y = _between(xs, *box_x), _between(ys, *box_y)
                free.append(_outer(centre_y & in_y, centre_x & in_x))
                region = _outer(centre_y, centre_x) | _outer(in_y, in_x)
            else:
                region = _outer(centre_y, centre_x)
                free.append(region)
            candidates.append((region & valid).any(1))
        return torch.cat(free, 2), torch.cat(candidates, 1)

    @staticmethod
    def class_cost(obj: torch.Tensor, cls: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """``[B, G, A]``: sum over classes of BCE(sqrt(sigmoid(cls) * sigmoid(obj)), onehot(class)).

        ``obj`` ``[B, A]`` and ``cls`` ``[B, C, A]`` are float32 logits, ``classes`` ``[B, G]``.
        Computed separably (no ``[B, G, A, C]`` tensor).
        """
        probs = cls.sigmoid().mul_(obj.sigmoid().unsqueeze(1)).sqrt_()  # [B, C, A]
        images = torch.arange(classes.shape[0], device=classes.device).unsqueeze(1)
        p = probs[images, classes.clamp(0, cls.shape[1] - 1)]  # [B, G, A], whole rows copied
        sum_log_not = probs.neg_().add_(1).log_().clamp_(min=_LOG_CLAMP).sum(1, keepdim=True)  # [B, 1, A]
        cost = torch.log(1 - p).clamp_(min=_LOG_CLAMP).sub_(sum_log_not)
        return cost.sub_(torch.log(p).clamp_(min=_LOG_CLAMP))


def _anchor_centres(count: int, stride: int, device: torch.device) -> torch.Tensor:
    """Centres ``(i + 0.5) * stride`` of ``count`` cells along one axis, float32."""
    return (torch.arange(count, device=device, dtype=torch.float32) + 0.5) * stride


def _between(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``low < values < high`` broadcast: ``[N]`` against ``[B, G, 1]`` bounds -> ``[B, G, N]``."""
    return (values > low) & (values < high)


def _outer(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Row test ``[B, G, H]`` AND column test ``[B, G, W]`` -> ``[B, G, H * W]`` (row-major)."""
    return (rows.unsqueeze(3) & cols.unsqueeze(2)).flatten(2)
