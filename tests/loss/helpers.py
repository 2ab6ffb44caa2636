"""Inputs for the loss tests: targets of every kind, synthetic head outputs, and the reference.

The reference is pixeltable-yolox (module ``yolox``): its head's ``get_assignments`` is called
per image on exactly the tensors yoloxkit's assigner sees, and its ``get_losses`` on the same
flattened outputs. Real targets come from the COCO128 YOLO labels, read in place.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from yoloxkit.loss import Assignment, SimOTAAssigner, Targets, flatten_levels
from yoloxkit.loss.predictions import FlatPredictions

COCO128 = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "coco128"
STRIDES = (8, 16, 32)


def level_shapes(size: int) -> list[tuple[int, int]]:
    """Feature-map shapes of a square input."""
    return [(size // s, size // s) for s in STRIDES]


def coco128_labels(size: int, count: int, start: int = 0) -> torch.Tensor:
    """Reference layout ``[count, 120, 5]`` from COCO128 YOLO labels, boxes scaled to ``size``.

    Images are letterboxed into the square input (top-left, no padding offset), as the
    reference's ``preproc``; label files without objects give all-zero rows.
    """
    import cv2

    files = sorted((COCO128 / "labels" / "train2017").glob("*.txt"))[start : start + count]
    if len(files) < count:
        import pytest

        pytest.skip(f"COCO128 labels not found in {COCO128}")
    labels = torch.zeros(count, 120, 5)
    for i, path in enumerate(files):
        rows = np.loadtxt(path, ndmin=2).reshape(-1, 5)[:120]
        image = cv2.imread(str(COCO128 / "images" / "train2017" / (path.stem + ".jpg")))
        h, w = image.shape[:2]
        r = min(size / h, size / w)
        scale = torch.tensor([w * r, h * r, w * r, h * r])
        labels[i, : len(rows), 0] = torch.from_numpy(rows[:, 0]).float()
        labels[i, : len(rows), 1:] = torch.from_numpy(rows[:, 1:]).float() * scale
    return labels


def random_labels(
    gen: torch.Generator, batch: int, size: int, counts: list[int], num_classes: int = 80
) -> torch.Tensor:
    """Reference layout ``[batch, 120, 5]`` with ``counts[i]`` random boxes inside the input."""
    labels = torch.zeros(batch, 120, 5)
    for i, n in enumerate(counts):
        wh = torch.rand(n, 2, generator=gen) * (0.6 * size) + 4
        centre = wh / 2 + torch.rand(n, 2, generator=gen) * (size - wh)
        labels[i, :n, 0] = torch.randint(0, num_classes, (n,), generator=gen).float()
        labels[i, :n, 1:3] = centre
        labels[i, :n, 3:5] = wh
    return labels


def synthetic_levels(
    gen: torch.Generator, targets: Targets, size: int, num_classes: int = 80, logit_scale: float = 3.0
) -> list[torch.Tensor]:
    """Raw head outputs whose boxes are jittered copies of the image's ground truths.

    Each anchor predicts a random ground truth of its image (or a random box for images without
    objects), so candidate IoUs are high, dynamic k goes above 1 and anchors are contested by
    several ground truths. Objectness and class logits are normal with ``logit_scale``, with a few
    saturated ones (+-40) to exercise the log clamping of the class cost.
    """
    batch = targets.mask.shape[0]
    levels = []
    for (h, w), stride in zip(level_shapes(size), STRIDES):
        n = h * w
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        cells = torch.stack([xs.flatten(), ys.flatten()], 1).float()
        raw = torch.randn(batch, n, 5 + num_classes, generator=gen) * logit_scale
        for b in range(batch):
            gts = targets.boxes[b][targets.mask[b]]
            if len(gts):
                boxes = gts[torch.randint(0, len(gts), (n,), generator=gen)].clone()
                boxes[:, :2] += torch.randn(n, 2, generator=gen) * 0.15 * boxes[:, 2:]
                boxes[:, 2:] *= torch.exp(torch.randn(n, 2, generator=gen) * 0.25)
            else:
                boxes = torch.rand(n, 4, generator=gen) * size / 2 + 2
            raw[b, :, :2] = boxes[:, :2] / stride - cells
            raw[b, :, 2:4] = torch.log(boxes[:, 2:] / stride)
        saturated = torch.rand(batch, n, 1 + num_classes, generator=gen) < 0.002
        raw[..., 4:] = torch.where(saturated, torch.sign(raw[..., 4:]) * 40, raw[..., 4:])
        levels.append(raw.permute(0, 2, 1).reshape(batch, 5 + num_classes, h, w).contiguous())
    return levels


def reference_head(num_classes: int = 80):
    """The reference's ``YoloxHead`` (nano width; only its loss methods are used)."""
    from yolox.models import YoloxHead

    return YoloxHead(num_classes, width=0.25, depthwise=True).train()


def reference_inputs(preds: FlatPredictions) -> dict[str, torch.Tensor]:
    """The flattened tensors the reference's ``get_losses`` works on, from yoloxkit's."""
    outputs = torch.cat([preds.boxes, preds.raw[:, 4:]], 1).permute(0, 2, 1).detach()
    return {
        "outputs": outputs,
        "x_shifts": preds.grid[0][None],
        "y_shifts": preds.grid[1][None],
        "expanded_strides": preds.strides[None],
    }


def _per_image(outputs: torch.Tensor, labels: torch.Tensor, assign_image) -> Assignment:
    """Run ``assign_image(b, num_gt) -> (fg_b, iou_b, gt_b)`` on each image with objects, as an Assignment."""
    batch, num_anchors = outputs.shape[:2]
    fg = torch.zeros(batch, num_anchors, dtype=torch.bool)
    gt_index = torch.zeros(batch, num_anchors, dtype=torch.long)
    iou = torch.zeros(batch, num_anchors)
    counts = (labels.sum(2) > 0).sum(1)
    for b in range(batch):
        num_gt = int(counts[b])
        if num_gt:
            fg_b, iou_b, gt_b = assign_image(b, num_gt)
            fg[b], gt_index[b, fg_b], iou[b, fg_b] = fg_b, gt_b, iou_b
    return Assignment(fg, gt_index, iou, fg.sum())


def reference_assignment(head, preds: FlatPredictions, labels: torch.Tensor) -> Assignment:
    """The reference's per-image ``get_assignments`` results, laid out as an :class:`Assignment`."""
    inputs = reference_inputs(preds)
    outputs = inputs["outputs"]

    def assign_image(b: int, num_gt: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            _, fg_b, iou_b, gt_b, _ = head.get_assignments(
                b, num_gt, labels[b, :num_gt, 1:5], labels[b, :num_gt, 0], outputs[b, :, :4],
                inputs["expanded_strides"], inputs["x_shifts"], inputs["y_shifts"],
                outputs[:, :, 5:], outputs[:, :, 4:5],
            )  # fmt: skip
        return fg_b, iou_b, gt_b

    return _per_image(outputs, labels, assign_image)


def original_assignment(head, preds: FlatPredictions, labels: torch.Tensor) -> Assignment:
    """Oracle for the "original" variant: the reference's matching on the pre-2023 cost.

    Per image and written plainly: candidates = anchor centre strictly inside a box OR within
    2.5 strides of a centre; cost = summed BCE over a materialised ``G x A' x C`` tensor
    + 3 * -log(IoU + 1e-8) + 1e5 unless inside both; then the reference's own ``simota_matching``.
    """
    import torch.nn.functional as F
    from yolox.utils import bboxes_iou

    inputs = reference_inputs(preds)
    outputs = inputs["outputs"]
    strides = inputs["expanded_strides"][0]
    x = inputs["x_shifts"][0] * strides + 0.5 * strides
    y = inputs["y_shifts"][0] * strides + 0.5 * strides

    def assign_image(b: int, num_gt: int):
        gt, classes = labels[b, :num_gt, 1:5], labels[b, :num_gt, 0]
        cx, cy, w, h = (gt[:, i : i + 1] for i in range(4))
        in_box = torch.stack([x - (cx - 0.5 * w), y - (cy - 0.5 * h), (cx + 0.5 * w) - x, (cy + 0.5 * h) - y], 2)
        in_box = in_box.min(-1).values > 0
        r = 2.5 * strides
        in_centre = torch.stack([x - (cx - r), y - (cy - r), (cx + r) - x, (cy + r) - y], 2).min(-1).values > 0
        cand = in_box.any(0) | in_centre.any(0)
        relation = (in_box & in_centre)[:, cand]
        ious = bboxes_iou(gt, outputs[b, cand, :4], False)
        p = (outputs[b, cand, 5:].sigmoid() * outputs[b, cand, 4:5].sigmoid()).sqrt()
        onehot = F.one_hot(classes.long(), outputs.shape[2] - 5).float()
        n = int(cand.sum())
        cls_cost = F.binary_cross_entropy(
            p.unsqueeze(0).repeat(num_gt, 1, 1), onehot.unsqueeze(1).repeat(1, n, 1), reduction="none"
        ).sum(-1)
        cost = cls_cost + 3.0 * -torch.log(ious + 1e-8) + 100000.0 * (~relation)
        fg_b = cand.clone()
        if not n:
            fg_b[:] = False
            return fg_b, torch.zeros(0), torch.zeros(0, dtype=torch.long)
        _, _, iou_b, gt_b = head.simota_matching(cost, ious, classes, num_gt, fg_b)
        return fg_b, iou_b, gt_b

    return _per_image(outputs, labels, assign_image)


def assign(variant: str, levels: list[torch.Tensor], targets: Targets) -> tuple[FlatPredictions, Assignment]:
    """yoloxkit's flattened predictions and assignment."""
    preds = flatten_levels(levels, STRIDES)
    return preds, SimOTAAssigner(variant)(preds, targets)
