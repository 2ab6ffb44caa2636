"""Detection / ground-truth pairs that share a key (image, or image and category), and their IoU."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Pairs generated per chunk: bounds memory on crowded images (~100 MB of temporaries).
PAIR_BUDGET = 1 << 22


def coco_iou(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of paired ``[x, y, w, h]`` rows with pycocotools' ``bbIou`` arithmetic, operation for operation.

    For crowd ground truth the denominator is the detection's area (COCO's "iscrowd" rule), so a
    detection inside a crowd region overlaps it fully.
    """
    w = np.minimum(det[:, 2] + det[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(det[:, 0], gt[:, 0])
    h = np.minimum(det[:, 3] + det[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(det[:, 1], gt[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    det_area = det[:, 2] * det[:, 3]
    union = np.where(crowd, det_area, det_area + gt[:, 2] * gt[:, 3] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / union, 0.0)


def keyed_pairs(
    det_key: np.ndarray, gt_key: np.ndarray, budget: int = PAIR_BUDGET
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (detection index, ground-truth index) with equal keys, in detection order, in chunks.

    ``gt_key`` must be sorted; each chunk holds about ``budget`` pairs (whole detections only).
    """
    start = np.searchsorted(gt_key, det_key, side="left")
    counts = np.searchsorted(gt_key, det_key, side="right") - start
    before = np.concatenate([[0], np.cumsum(counts)])
    first, n = 0, len(det_key)
    while first < n:
        last = int(np.searchsorted(before, before[first] + budget, side="right")) - 1
        last = min(max(last, first + 1), n)
        c = counts[first:last]
        runs = np.repeat(before[first:last] - before[first], c)
        p_det = np.repeat(np.arange(first, last), c)
        p_gt = np.repeat(start[first:last], c) + np.arange(len(p_det)) - runs
        yield p_det, p_gt
        first = last


def run_heads(key: np.ndarray) -> np.ndarray:
    """Indices where a run of equal values in ``key`` begins."""
    return np.concatenate([[0], np.flatnonzero(key[1:] != key[:-1]) + 1]) if len(key) else np.zeros(0, np.int64)


def segment_max(segment: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per segment id (``segment`` non-decreasing): the largest value (0 if none) and the position
    of its first occurrence in ``values`` (-1 if none)."""
    best, first = np.zeros(size), np.full(size, -1, np.int64)
    if not len(segment):
        return best, first
    starts = run_heads(segment)
    best[segment[starts]] = np.maximum.reduceat(values, starts)
    hits = np.flatnonzero(values == best[segment])
    lead = hits[run_heads(segment[hits])]
    first[segment[lead]] = lead
    return best, first
