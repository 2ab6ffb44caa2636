"""Pascal VOC average precision at one IoU threshold: 11-point (VOC2007) and all-points (VOC2010+).

Matching follows the VOC devkit (and py-faster-rcnn's ``voc_eval``, which the reference's
VOCEvaluator runs): the detections of a class by descending score; each is compared with the
object of its class it overlaps most in its image, taken or not; IoU above the threshold
(strictly) with a not-yet-taken object is a TP, with a taken one a FP (duplicate), with a
difficult (or crowd) object neither. IoU uses continuous coordinates (no "+1" pixel), like COCO.
``class_ap`` takes the IoU function as an argument so that the rotated (DOTA) evaluation can
pass polygon IoU and reuse everything else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .groundtruth import GroundTruth
from .matching import RankedDetections
from .pairs import coco_iou, keyed_pairs, segment_max

#: IoU of paired boxes: (detection rows, object rows) -> one IoU per row.
PairIoU = Callable[[np.ndarray, np.ndarray], np.ndarray]


def xywh_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of paired axis-aligned ``[x, y, w, h]`` boxes."""
    return coco_iou(det, gt, np.zeros(len(det), bool))


def voc_ap(recall: np.ndarray, precision: np.ndarray, eleven_point: bool = False) -> float:
    """Area under the precision envelope (all points), or the VOC2007 mean of 11 sampled precisions."""
    if eleven_point:
        sampled = [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.arange(0.0, 1.1, 0.1)]
        return float(np.sum(np.asarray(sampled) / 11.0))
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def class_ap(
    det_image: np.ndarray,
    det_score: np.ndarray,
    det_boxes: np.ndarray,
    gt_image: np.ndarray,
    gt_boxes: np.ndarray,
    gt_ignored: np.ndarray,
    iou: PairIoU = xywh_iou,
    threshold: float = 0.5,
    order: np.ndarray | None = None,
) -> tuple[float, float]:
    """(11-point AP, all-points AP) of one class; NaN for both when it has no not-ignored object.

    Detections are visited by descending score, ties by image; ``order`` (indices) replaces that
    order (the DOTA devkit's own tie order, see :mod:`yoloxkit.evaluation.dota`).
    """
    positives = int((~gt_ignored).sum())
    if positives == 0:
        return float("nan"), float("nan")
    if order is None:
        order = np.lexsort((det_image, -det_score))
    image, boxes = det_image[order], det_boxes[order]
    by_image = np.argsort(gt_image, kind="stable")
    overlap, target = np.zeros(len(order)), np.full(len(order), -1, np.int64)
    for p_det, p_gt in keyed_pairs(image, gt_image[by_image]):
        best, first = segment_max(p_det, iou(boxes[p_det], gt_boxes[by_image[p_gt]]), len(order))
        found = first >= 0
        overlap[found], target[found] = best[found], by_image[p_gt[first[found]]]
    hit = (overlap > threshold) & (target >= 0)
    skipped = hit & gt_ignored[np.maximum(target, 0)]
    claims = np.flatnonzero(hit & ~skipped)
    tp = np.zeros(len(order), bool)
    tp[claims[np.unique(target[claims], return_index=True)[1]]] = True
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp & ~skipped)
    recall = tp_cum / positives
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    return voc_ap(recall, precision, eleven_point=True), voc_ap(recall, precision)


def voc_metrics(gt: GroundTruth, dets: RankedDetections, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-class VOC AP at ``threshold``: ``{"VOC_AP50_11pt": [K], "VOC_AP50": [K]}`` (all points);
    difficult and crowd objects are ignored."""
    ignored = gt.difficult | gt.crowd
    values = np.full((gt.num_classes, 2), np.nan)
    for k in range(gt.num_classes):
        d, g = dets.category == k, gt.category == k
        values[k] = class_ap(
            dets.image[d], dets.score[d], dets.xywh[d], gt.image[g], gt.xywh[g], ignored[g], threshold=threshold
        )
    return {"VOC_AP50_11pt": values[:, 0], "VOC_AP50": values[:, 1]}
