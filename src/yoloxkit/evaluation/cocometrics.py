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
    tp, fp = _segment_cumsum(tps, bounds, segment), _segment_cumsum(fps, bounds, segment)
    npig = positives.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = tp / np.where(npig > 0, npig, np.inf)[:, segment]
    flat = np.empty(rows * n + 1)  # precision of every row, then a 0 sentinel for the last block
    flat[-1] = 0.0
    pr = flat[:-1].reshape(rows, n)
    np.divide(tp, fp + tp + np.spacing(1), out=pr)
    # Position of the first detection reaching each recall threshold, per (row, segment):
    # the number of detections whose recall is below it (recall is non-decreasing).
    level = np.searchsorted(RECALL_THRESHOLDS, rc, side="right")  # thresholds <= rc
    cell = (np.arange(rows)[:, None] * num_seg + segment[None, :]) * (num_rec + 1) + level
    below = np.bincount(cell.ravel(), minlength=rows * num_seg * (num_rec + 1)).reshape(rows, num_seg, num_rec + 1)
    first = bounds[:-1][None, :, None] + np.cumsum(below, axis=2)[..., :num_rec]  # [rows, S, R]
    # Envelope read at ``first``: max of pr over [first_j, end of segment) = suffix maximum of the
    # maxima over the blocks [first_j, first_j+1), [first_R-1, end). Exact: only max() is involved.
    starts = (first + (np.arange(rows) * n)[:, None, None]).ravel()
    block = np.maximum.reduceat(flat, starts) if len(starts) else np.zeros(0)
    ends = np.append(starts[1:], len(flat))
    block = np.where(starts < ends, block, 0.0).reshape(rows, num_seg, num_rec)
    precision = np.maximum.accumulate(block[..., ::-1], axis=2)[..., ::-1]
    last = rc[:, np.maximum(bounds[1:] - 1, 0)] if n else np.zeros((rows, num_seg))  # each segment's final recall
    recall = np.where(seg_len > 0, last, 0.0)
    no_gt = positives == 0
    return np.where(no_gt[..., None], -1.0, precision), np.where(no_gt, -1.0, recall)


def _segment_cumsum(counts: np.ndarray, bounds: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Cumulative sums along axis 1 restarting at each segment; 0/1 counts stay integers (exact, fast)."""
    total = np.cumsum(counts, axis=1, dtype=np.int32 if counts.dtype == bool else np.float64)
    before = np.concatenate([np.zeros((len(total), 1), total.dtype), total], 1)[:, bounds[:-1]]
    total -= before[:, segment]
    return total


def _reorder(flags: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``flags[..., order]``, gathering whole rows of a detection-major copy (several times faster)."""
    rows = np.ascontiguousarray(flags.reshape(int(np.prod(flags.shape[:-1])), flags.shape[-1]).T)
    return rows[order].T.reshape(flags.shape)


def accumulate(matches: CocoMatches, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``COCOeval.eval['precision']`` ``[T, R, K, A, M]`` and ``['recall']`` ``[T, K, A, M]``."""
    dets = matches.dets
    num_t, num_a = len(IOU_THRESHOLDS), len(AREA_RANGES)
    precision = np.full((num_t, len(RECALL_THRESHOLDS), num_classes, num_a, len(MAX_DETS)), -1.0)
    recall = np.full((num_t, num_classes, num_a, len(MAX_DETS)), -1.0)
    positives = matches.positives(num_classes)
    order = dets.accumulation_order()
    matched, ignored = _reorder(matches.gt_index >= 0, order), _reorder(matches.ignored, order)
    tp_all, fp_all = matched & ~ignored, ~matched & ~ignored
    counted = ~ignored.all(1)  # [A, D]: a detection ignored at every threshold only repeats a curve's point
    category, rank = dets.category[order], dets.rank[order]
    for m, max_det in enumerate(MAX_DETS):
        for a in range(num_a):
            sel = counted[a] & (rank < max_det)
            bounds = np.searchsorted(category[sel], np.arange(num_classes + 1))
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
