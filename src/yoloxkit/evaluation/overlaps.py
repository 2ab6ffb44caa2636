"""Each detection's overlap with the objects of its image, of its own class and of the others.

The error analysis and the confusion matrix need what COCO's per-class matching does not look
at: the best IoU with an object of another class, or with an object already taken. Crowd
regions are left out (as TIDE does): they are neither errors nor objects to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .groundtruth import GroundTruth
from .matching import RankedDetections
from .pairs import coco_iou, keyed_pairs, segment_max


@dataclass(eq=False)
class Overlaps:
    """Per detection ``[D]``: best IoU (and which object, -1 if none) by kind of object; plus the
    detection/object pairs with IoU >= ``keep`` (any class)."""

    same_iou: np.ndarray
    same_gt: np.ndarray
    other_iou: np.ndarray
    other_gt: np.ndarray
    taken_same_iou: np.ndarray  # best IoU with an object of its class already matched
    max_iou: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray]  # (detection, object, IoU)


def image_overlaps(gt: GroundTruth, dets: RankedDetections, gt_taken: np.ndarray, keep: float = 0.5) -> Overlaps:
    """Overlaps of every detection with the not-crowd objects of its image."""
    n = len(dets)
    out = {k: np.zeros(n) for k in ("same_iou", "other_iou", "taken_same_iou", "max_iou")}
    out |= {"same_gt": np.full(n, -1, np.int64), "other_gt": np.full(n, -1, np.int64)}
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for p_det, p_gt in keyed_pairs(dets.image, gt.image):
        iou = coco_iou(dets.xywh[p_det], gt.xywh[p_gt], np.zeros(len(p_det), bool)) * ~gt.crowd[p_gt]
        same = gt.category[p_gt] == dets.category[p_det]
        for name, values in (("same", iou * same), ("other", iou * ~same)):
            best, first = segment_max(p_det, values, n)
            found = first >= 0
            out[f"{name}_iou"][found], out[f"{name}_gt"][found] = best[found], p_gt[first[found]]
        for name, values in (("taken_same_iou", iou * (same & gt_taken[p_gt])), ("max_iou", iou)):
            best, first = segment_max(p_det, values, n)
            out[name][first >= 0] = best[first >= 0]
        close = iou >= keep
        kept.append((p_det[close], p_gt[close], iou[close]))
    pairs = (
        tuple(np.concatenate(parts) for parts in zip(*kept)) if kept else (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
    )
    return Overlaps(pairs=pairs, **out)  # type: ignore[arg-type]
