"""COCO's precision/recall accumulation and the 12 summary numbers, identical to pycocotools.

``accumulate`` reproduces ``COCOeval.accumulate`` for all categories at once: cumulative
TP/FP counts, recall ``tp / npig``, precision ``tp / (fp + tp + eps)``, the precision envelope
(running maximum from the right) read at the 101 recall thresholds, -1 where a category has no
not-ignored ground truth. ``summarize`` is ``COCOeval.summarize`` without the printing.
"""

from __future__ import annotations

import numpy as np

from .matching import AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS, CocoMatches

#: The 12 numbers: name -> (precision (True) or recall, IoU threshold or None, area range, max detections).
STATS: dict[str, tuple[bool, float | None, str, int]] = {
    "AP": (True, None, "all", 100),
    "AP50": (True, 0.5, "all", 100),
    "AP75": (True, 0.75, "all", 100),
    "APs": (True, None, "small", 100),
    "APm": (True, None, "medium", 100),
    "APl": (True, None, "large", 100),
    "AR1": (False, None, "all", 1),
    "AR10": (False, None, "all", 10),
    "AR100": (False, None, "all", 100),
    "ARs": (False, None, "small", 100),
    "ARm": (False, None, "medium", 100),
    "ARl": (False, None, "large", 100),
}
AREA_NAMES = tuple(name for name, _, _ in AREA_RANGES)


def interpolated_precision(
    tps: np.ndarray, fps: np.ndarray, bounds: np.ndarray, positives: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's interpolated precision for many segments (categories) and rows (thresholds) at once.

    ``tps``/``fps`` are ``[rows, N]`` counts (0/1, or integer weights) of detections sorted by
    segment, then by descending score; segment ``s`` spans ``bounds[s]:bounds[s + 1]``;
    ``positives`` is ``[rows, S]``. Returns precision ``[rows, S, R]`` at the recall thresholds and
    the final recall ``[rows, S]``, both -1 where ``positives`` is 0.
    """
    rows, n = tps.shape
    num_seg, num_rec = len(bounds) - 1, len(RECALL_THRESHOLDS)
    seg_len = np.diff(bounds)
    segment = np.repeat(np.arange(num_seg), seg_len)
    tp = np.cumsum(tps, axis=1, dtype=np.float64)
    fp = np.cumsum(fps, axis=1, dtype=np.float64)
    pad = np.zeros((rows, 1))
    tp -= np.concatenate([pad, tp], 1)[:, bounds[:-1]][:, segment]
    fp -= np.concatenate([pad, fp], 1)[:, bounds[:-1]][:, segment]
    npig = positives.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = tp / np.where(npig > 0, npig, np.inf)[:, segment]
    pr = tp / (fp + tp + np.spacing(1))
    # Position of the first detection reaching each recall threshold, per (row, segment):
    # the number of detections whose recall is below it (recall is non-decreasing).
    level = np.searchsorted(RECALL_THRESHOLDS, rc, side="right")  # thresholds <= rc
    cell = (np.arange(rows)[:, None] * num_seg + segment[None, :]) * (num_rec + 1) + level
    below = np.bincount(cell.ravel(), minlength=rows * num_seg * (num_rec + 1)).reshape(rows, num_seg, num_rec + 1)
    first = bounds[:-1][None, :, None] + np.cumsum(below, axis=2)[..., :num_rec]  # [rows, S, R]
    # Envelope read at ``first``: max of pr over [first_j, end of segment) = suffix maximum of the
    # maxima over the blocks [first_j, first_j+1), [first_R-1, end). Exact: only max() is involved.
    starts = (first + (np.arange(rows) * n)[:, None, None]).ravel()
    flat = np.append(pr.ravel(), 0.0)
    block = np.maximum.reduceat(flat, starts) if len(starts) else np.zeros(0)
    ends = np.append(starts[1:], len(flat))
    block = np.where(starts < ends, block, 0.0).reshape(rows, num_seg, num_rec)
    precision = np.maximum.accumulate(block[..., ::-1], axis=2)[..., ::-1]
    last = np.concatenate([pad, rc], 1)[:, bounds[1:]]  # recall of each segment's last detection
    recall = np.where(seg_len > 0, last, 0.0)
    no_gt = positives == 0
    return np.where(no_gt[..., None], -1.0, precision), np.where(no_gt, -1.0, recall)


def accumulate(matches: CocoMatches, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.eval['precision']`` ``[T, R, K, A, M]`` and ``['recall']`` ``[T, K, A, M]``."""
    dets = matches.dets
    num_t, num_a = len(IOU_THRESHOLDS), len(AREA_RANGES)
    precision = np.full((num_t, len(RECALL_THRESHOLDS), num_classes, num_a, len(MAX_DETS)), -1.0)
    recall = np.full((num_t, num_classes, num_a, len(MAX_DETS)), -1.0)
    positives = matches.positives(num_classes)
    # Per category: descending score; ties in image order, then rank (pycocotools' concatenation).
    order = np.lexsort((dets.rank, dets.image, -dets.score, dets.category))
    tp_all, fp_all = matches.true_positive, matches.false_positive
    for m, max_det in enumerate(MAX_DETS):
        sel = order[dets.rank[order] < max_det]
        bounds = np.searchsorted(dets.category[sel], np.arange(num_classes + 1))
        for a in range(num_a):
            npig = np.broadcast_to(positives[a], (num_t, num_classes))
            q, r = interpolated_precision(tp_all[a][:, sel], fp_all[a][:, sel], bounds, npig)
            precision[:, :, :, a, m] = q.transpose(0, 2, 1)
            recall[:, :, a, m] = r
    return precision, recall


def summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The 12 COCO numbers (``COCOeval.stats``) by name; -1 where nothing can be measured."""
    out = {}
    for name, (is_ap, iou, area, max_det) in STATS.items():
        s = precision if is_ap else recall
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        s = s[..., AREA_NAMES.index(area), MAX_DETS.index(max_det)]
        valid = s[s > -1]
        out[name] = float(np.mean(valid)) if valid.size else -1.0
    return out


def per_class(precision: np.ndarray, recall: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class AP, AP50, AP75, APs, APm, APl (max 100 detections) and AR100; NaN without ground truth."""
    num_classes = precision.shape[2]
    columns = {}
    for name, (is_ap, iou, area, max_det) in STATS.items():
        if not is_ap and name != "AR100":
            continue
        s = precision if is_ap else recall[:, None]
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        s = s[..., AREA_NAMES.index(area), MAX_DETS.index(max_det)]
        values = np.full(num_classes, np.nan)
        for k in range(num_classes):
            valid = s[:, :, k][s[:, :, k] > -1]
            if valid.size:
                values[k] = np.mean(valid)
        columns[name] = values
    return columns
