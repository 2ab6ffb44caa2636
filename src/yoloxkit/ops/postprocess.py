"""From decoded network output to per-image detections, batched (no per-image Python loop)."""

from __future__ import annotations

import torch

from ..structures.boxes import BoxFormat, convert
from .nms import batched_nms


def postprocess(
    outputs: torch.Tensor,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    class_agnostic: bool = False,
) -> list[torch.Tensor]:
    """Decoded ``[B, N, 5 + C]`` (cx, cy, w, h, obj, cls...) -> per image ``[K, 7]`` rows.

    Rows are ``(x1, y1, x2, y2, obj, class_prob, class_index)`` sorted by descending score
    ``obj * class_prob``, exactly the reference's layout and order. Each anchor keeps its best
    class only; anchors scoring below ``conf_threshold`` are dropped before NMS; NMS is
    class-aware unless ``class_agnostic``. Images without detections get a ``[0, 7]`` tensor.
    """
    batch = outputs.shape[0]
    boxes = convert(outputs[..., :4], BoxFormat.CXCYWH, BoxFormat.XYXY)
    class_prob, class_idx = torch.max(outputs[..., 5:], -1)
    scores = outputs[..., 4] * class_prob
    image_idx, anchor_idx = torch.nonzero(scores >= conf_threshold, as_tuple=True)
    rows = torch.cat(
        [
            boxes[image_idx, anchor_idx],
            outputs[image_idx, anchor_idx, 4:5],
            class_prob[image_idx, anchor_idx, None],
            class_idx[image_idx, anchor_idx, None].to(outputs.dtype),
        ],
        1,
    )
    num_classes = outputs.shape[-1] - 5
    groups = image_idx if class_agnostic else image_idx * num_classes + class_idx[image_idx, anchor_idx]
    keep = batched_nms(rows[:, :4], scores[image_idx, anchor_idx], groups, iou_threshold)
    kept_images = image_idx[keep]
    per_image = torch.bincount(kept_images, minlength=batch).tolist()
    # Stable sort by image keeps the descending-score order inside each image.
    ordered = keep[torch.argsort(kept_images, stable=True)]
    return list(torch.split(rows[ordered], per_image))
