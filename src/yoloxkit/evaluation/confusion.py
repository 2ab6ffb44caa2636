"""Confusion matrix with a background row and column.

Rows are the true class, columns the predicted class; index K is background. At a confidence
threshold and IoU 0.5:

1. COCO's class-aware matches (the TPs of the P/R/F1 figures) fill the diagonal;
2. the remaining detections take, greedily by descending score within their image, a still
   unmatched object of any class with IoU >= 0.5: a confusion (true class, predicted class);
3. detections still unmatched are background predictions (row K); objects still unmatched are
   missed (column K). Detections COCO ignores (on crowd regions) and crowd objects are left out.

The diagonal therefore equals the per-class TP count at that threshold.
"""

from __future__ import annotations

import numpy as np

from .groundtruth import GroundTruth
from .matching import RankedDetections, greedy_match, run_starts
from .overlaps import Overlaps


def confusion_matrix(
    gt: GroundTruth,
    dets: RankedDetections,
    gt_index: np.ndarray,
    counted: np.ndarray,
    overlaps: Overlaps,
    conf: float,
    iou: float = 0.5,
) -> np.ndarray:
    """int64 ``[K + 1, K + 1]`` counts (true class, predicted class) of the detections scoring >= conf."""
    k = gt.num_classes
    active = counted & (dets.score >= conf)
    matrix = np.zeros((k + 1, k + 1), np.int64)
    same = active & (gt_index >= 0)
    np.add.at(matrix, (gt.category[gt_index[same]], dets.category[same]), 1)
    taken = np.zeros(len(gt.image), bool)
    taken[gt_index[same]] = True
    left = active & (gt_index < 0)
    p_det, p_gt, p_iou = overlaps.pairs
    usable = left[p_det] & ~taken[p_gt]
    # Rank the remaining detections by score within their image (one decision per image and step).
    order = np.lexsort((-dets.score, dets.image))
    rank = np.empty(len(dets), np.int64)
    rank[order] = np.arange(len(dets)) - run_starts(dets.image[order])
    none = np.zeros(len(gt.image), bool)
    cross = greedy_match(
        p_det[usable], p_gt[usable], p_iou[usable], rank, none, none, np.array([iou]), len(dets), len(gt.image)
    )[0]
    hit = left & (cross >= 0)
    np.add.at(matrix, (gt.category[cross[hit]], dets.category[hit]), 1)
    taken[cross[hit]] = True
    np.add.at(matrix, (np.full(int((left & ~hit).sum()), k), dets.category[left & ~hit]), 1)
    missed = ~taken & ~gt.crowd
    np.add.at(matrix, (gt.category[missed], np.full(int(missed.sum()), k)), 1)
    return matrix


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the share of a true class going to each prediction); 0 rows stay 0."""
    totals = matrix.sum(1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
