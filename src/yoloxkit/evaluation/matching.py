"""COCO's greedy matching of detections to ground truth, vectorised.

pycocotools' ``evaluateImg`` walks, per image, category, area range and IoU threshold, the
detections by descending score and gives each the best still-free ground truth. The walk is
sequential only within one (image, category) group, so here all groups advance together, one
detection rank at a time (at most 100 steps), with every area range and threshold at once. The
rules are pycocotools' to the letter:

- detections sorted by score (ties keep file order), at most ``max_det`` per image and category;
- a match needs IoU >= t (t capped at 1 - 1e-10); a crowd object may be matched again and again;
- a detection takes the not-ignored object with the highest IoU (ties: the later object); only
  when none qualifies does it take an ignored one (crowd, or outside the area range);
- a detection matched to an ignored object is ignored; an unmatched detection outside the area
  range is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .groundtruth import GroundTruth
from .pairs import coco_iou, keyed_pairs, run_heads
from .predictions import PredictionArrays

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = (("all", 0.0, 1e5**2), ("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2), ("large", 96.0**2, 1e5**2))


@dataclass(eq=False)
class RankedDetections:
    """Detections sorted by (image, category, descending score), at most ``max_det`` per group."""

    source: np.ndarray  # int64 [D] index into the PredictionArrays they came from
    image: np.ndarray  # int64 [D]
    category: np.ndarray  # int64 [D]
    xywh: np.ndarray  # float64 [D, 4]
    score: np.ndarray  # float64 [D]
    rank: np.ndarray  # int64 [D] position within its (image, category) group

    @property
    def area(self) -> np.ndarray:
        """Box area ``w * h`` (what pycocotools' ``loadRes`` stores)."""
        return self.xywh[:, 2] * self.xywh[:, 3]

    def __len__(self) -> int:
        return len(self.score)

    def accumulation_order(self) -> np.ndarray:
        """Indices by category, descending score, then image and rank: pycocotools' accumulation order
        (per category, its per-image lists concatenated in image order, then a stable sort on -score)."""
        by_score = np.argsort(-self.score, kind="stable")  # ties keep (image, category, rank) order
        return by_score[np.argsort(self.category[by_score], kind="stable")]

    @classmethod
    def build(cls, preds: PredictionArrays, num_classes: int, max_det: int) -> RankedDetections:
        """Sort and truncate as pycocotools does (stable sort on -score, first ``max_det`` kept)."""
        order = np.lexsort((np.arange(len(preds)), -preds.score, preds.category, preds.image))
        key = preds.image[order] * num_classes + preds.category[order]
        rank = np.arange(len(key)) - run_starts(key)
        keep = order[rank < max_det]
        return cls(
            keep, preds.image[keep], preds.category[keep], preds.xywh[keep], preds.score[keep], rank[rank < max_det]
        )


@dataclass(eq=False)
class CocoMatches:
    """The outcome of matching, per area range ``a`` and IoU threshold ``t``."""

    dets: RankedDetections
    gt_index: np.ndarray  # int64 [A, T, D]: matched ground-truth index, -1 if none
    ignored: np.ndarray  # bool [A, T, D]
    gt_ignored: np.ndarray  # bool [A, G]
    gt_category: np.ndarray  # int64 [G]

    @property
    def true_positive(self) -> np.ndarray:
        """bool [A, T, D]: matched and not ignored."""
        return (self.gt_index >= 0) & ~self.ignored

    @property
    def false_positive(self) -> np.ndarray:
        """bool [A, T, D]: unmatched and not ignored."""
        return (self.gt_index < 0) & ~self.ignored

    def positives(self, num_classes: int) -> np.ndarray:
        """int64 [A, K]: not-ignored ground truth per area range and class (COCO's ``npig``)."""
        return np.stack([np.bincount(self.gt_category[~ig], minlength=num_classes) for ig in self.gt_ignored])


def coco_match(gt: GroundTruth, preds: PredictionArrays, max_det: int = MAX_DETS[-1]) -> CocoMatches:
    """Match ``preds`` to ``gt`` for every COCO area range and IoU threshold."""
    dets = RankedDetections.build(preds, gt.num_classes, max_det)
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    gt_key = gt.image * gt.num_classes + gt.category
    p_det, p_gt, p_iou = candidate_pairs(
        dets.image * gt.num_classes + dets.category, gt_key, dets.xywh, gt, thresholds.min()
    )
    det_area, shape = dets.area, (len(AREA_RANGES), len(thresholds), len(dets))
    gt_index, ignored = np.full(shape, -1, np.int64), np.zeros(shape, bool)
    gt_ignored = np.zeros((len(AREA_RANGES), len(gt.area)), bool)
    for a, (_, low, high) in enumerate(AREA_RANGES):
        gt_ignored[a] = gt.crowd | (gt.area < low) | (gt.area > high)
        gt_index[a] = greedy_match(
            p_det, p_gt, p_iou, dets.rank, gt_ignored[a], gt.crowd, thresholds, len(dets), len(gt.area)
        )
        outside = (det_area < low) | (det_area > high)
        # Index -1 (unmatched) reads the appended sentinel; unmatched detections outside the range are ignored.
        ignored[a] = np.where(gt_index[a] >= 0, np.append(gt_ignored[a], False)[gt_index[a]], outside[None, :])
    return CocoMatches(dets, gt_index, ignored, gt_ignored, gt.category)


def candidate_pairs(
    det_key: np.ndarray, gt_key: np.ndarray, det_xywh: np.ndarray, gt: GroundTruth, min_iou: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs with equal keys (``gt_key`` sorted) and IoU >= ``min_iou``: detection, object, IoU."""
    kept = [], [], []
    for p_det, p_gt in keyed_pairs(det_key, gt_key):
        iou = coco_iou(det_xywh[p_det], gt.xywh[p_gt], gt.crowd[p_gt])
        ok = iou >= min_iou
        for store, values in zip(kept, (p_det[ok], p_gt[ok], iou[ok])):
            store.append(values)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return tuple(np.concatenate(s) if s else e for s, e in zip(kept, empty))  # type: ignore[return-value]


def greedy_match(
    p_det: np.ndarray,
    p_gt: np.ndarray,
    p_iou: np.ndarray,
    det_rank: np.ndarray,
    gt_ignored: np.ndarray,
    gt_reusable: np.ndarray,
    thresholds: np.ndarray,
    num_dets: int,
    num_gts: int,
) -> np.ndarray:
    """int64 [T, D]: the object each detection takes at each threshold (-1: none), COCO's rules.

    Candidates are the pairs ``(p_det, p_gt)`` with IoU ``p_iou``; detections of equal
    ``det_rank`` must belong to different groups (they are decided together).
    """
    keep = p_iou >= thresholds.min()
    p_det, p_gt, p_iou = p_det[keep], p_gt[keep], p_iou[keep]
    # Per detection, candidates in preference order: not ignored, higher IoU, later object.
    order = np.lexsort((-p_gt, -p_iou, gt_ignored[p_gt], p_det, det_rank[p_det]))
    p_det, p_gt, p_iou = p_det[order], p_gt[order], p_iou[order]
    bounds = np.concatenate([run_heads(det_rank[p_det]), [len(p_det)]])
    matched = np.full((len(thresholds), num_dets), -1, np.int64)
    taken = np.zeros((len(thresholds), num_gts), bool)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        d, g = p_det[start:stop], p_gt[start:stop]
        valid = (p_iou[start:stop] >= thresholds[:, None]) & (~taken[:, g] | gt_reusable[g])
        t, j = np.nonzero(valid)  # row-major: by threshold, then by detection and preference
        first = run_heads(t * num_dets + d[j])  # each detection's most preferred valid candidate
        t, j = t[first], j[first]
        matched[t, d[j]] = g[j]
        taken[t, g[j]] = True
    return matched


def run_starts(key: np.ndarray) -> np.ndarray:
    """For each element of a sorted ``key``, the index where its run of equal values begins."""
    starts = run_heads(key)
    return np.repeat(starts, np.diff(np.concatenate([starts, [len(key)]])))
