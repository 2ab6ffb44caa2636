"""From decoded network output to per-image detections, batched (no per-image Python loop).

Axis-aligned and rotated models share one selection rule (:func:`select_and_suppress`): each
point keeps its best class, points scoring ``obj * class_prob`` below the confidence threshold
are dropped, and the rest go through class-aware NMS of their own box type in one call over the
whole batch (groups are ``image x class``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..structures.boxes import BoxFormat, convert
from .nms import batched_nms
from .rotated import batched_rotated_nms

# Default NMS IoU thresholds: YOLOX's demo (IoU > 0.45 suppresses) and ai4rs' rotated test
# setting (rotated IoU >= 0.1 suppresses), with that setting's score threshold.
from ..thresholds import NMS_IOU, ROTATED_CONF, ROTATED_NMS_IOU  # noqa: E402, F401 - re-exported

#: ``nms(boxes, scores, groups, iou_threshold) -> kept indices`` sorted by descending score.
GroupedNMS = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def select_and_suppress(
    boxes: torch.Tensor,
    objectness: torch.Tensor,
    class_probs: torch.Tensor,
    nms: GroupedNMS,
    conf_threshold: float | torch.Tensor,
    iou_threshold: float,
    class_agnostic: bool = False,
) -> list[torch.Tensor]:
    """Boxes ``[B, N, D]``, objectness ``[B, N]``, class probabilities ``[B, N, C]`` -> per image rows.

    Rows are ``(box..., obj, class_prob, class_index)`` (``D + 3`` columns) sorted by
    descending score ``obj * class_prob``; images without detections get ``[0, D + 3]``.
    ``conf_threshold`` is one value, or one per class (a ``[C]`` tensor: per-class operating
    thresholds), applied to each point's best class before NMS.
    """
    batch, num_classes = boxes.shape[0], class_probs.shape[-1]
    class_prob, class_idx = torch.max(class_probs, -1)
    scores = objectness * class_prob
    if isinstance(conf_threshold, torch.Tensor):
        conf_threshold = conf_threshold.to(scores.device, scores.dtype)[class_idx]
    image_idx, point_idx = torch.nonzero(scores >= conf_threshold, as_tuple=True)
    rows = torch.cat(
        [
            boxes[image_idx, point_idx],
            objectness[image_idx, point_idx, None],
            class_prob[image_idx, point_idx, None],
            class_idx[image_idx, point_idx, None].to(boxes.dtype),
        ],
        1,
    )
    groups = image_idx if class_agnostic else image_idx * num_classes + class_idx[image_idx, point_idx]
    keep = nms(rows[:, : boxes.shape[-1]], scores[image_idx, point_idx], groups, iou_threshold)
    kept_images = image_idx[keep]
    per_image = torch.bincount(kept_images, minlength=batch).tolist()
    # Stable sort by image keeps the descending-score order inside each image.
    ordered = keep[torch.argsort(kept_images, stable=True)]
    return list(torch.split(rows[ordered], per_image))


def postprocess(
    outputs: torch.Tensor,
    conf_threshold: float | torch.Tensor = 0.25,
    iou_threshold: float = NMS_IOU,
    class_agnostic: bool = False,
) -> list[torch.Tensor]:
    """Decoded ``[B, N, 5 + C]`` (cx, cy, w, h, obj, cls...) -> per image ``[K, 7]`` rows.

    Rows are ``(x1, y1, x2, y2, obj, class_prob, class_index)`` sorted by descending score
    ``obj * class_prob``, exactly the reference's layout and order. NMS drops a box whose IoU
    with a kept box of its class is above ``iou_threshold``.
    """
    boxes = convert(outputs[..., :4], BoxFormat.CXCYWH, BoxFormat.XYXY)
    return select_and_suppress(
        boxes, outputs[..., 4], outputs[..., 5:], batched_nms, conf_threshold, iou_threshold, class_agnostic
    )


def rotated_postprocess(
    outputs: torch.Tensor,
    conf_threshold: float | torch.Tensor = ROTATED_CONF,
    iou_threshold: float = ROTATED_NMS_IOU,
    class_agnostic: bool = False,
) -> list[torch.Tensor]:
    """Decoded rotated ``[B, N, 6 + C]`` (cx, cy, w, h, angle, obj, cls...) -> per image ``[K, 8]`` rows.

    Rows are ``(cx, cy, w, h, angle, obj, class_prob, class_index)`` sorted by descending score;
    rotated NMS drops a box whose exact rotated IoU with a kept box of its class is
    ``>= iou_threshold``. No cap on the number of detections (defaults: score 0.01, IoU 0.1,
    as ai4rs' test config).
    """
    return select_and_suppress(
        outputs[..., :5],
        outputs[..., 5],
        outputs[..., 6:],
        batched_rotated_nms,
        conf_threshold,
        iou_threshold,
        class_agnostic,
    )
