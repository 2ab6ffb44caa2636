"""Precision, recall and F1 at a confidence threshold, the best-F1 threshold, and their curves.

Counts come from COCO's matching at IoU 0.5 (all object sizes, at most 100 detections per image
and class): a detection scoring >= conf is a TP when matched, an FP when not, and is left out
when COCO ignores it (matched to a crowd region). Matching is greedy by descending score, so the
matches among detections above any threshold are those of the full run: one matching serves
every threshold. ``FN = objects - TP``. Precision with no detection is 0 (nothing was found);
recall and F1 of a class without objects are NaN. The all-classes figures count every object
and detection once (micro average), the way a single deployment threshold acts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Confidence grid of the P/R/F1 curves.
CONF_GRID = np.linspace(0.0, 1.0, 1001)


@dataclass
class OperatingPoint:
    """Counts and P/R/F1 at one confidence, for all classes together and per class."""

    conf: float | None
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    per_class: dict[str, np.ndarray]  # tp, fp, fn, precision, recall, f1: [K]


def rates(tp: np.ndarray, fp: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from TP, FP and object counts (precision 0 without detections,
    recall and F1 NaN without objects)."""
    tp, fp, positives = (np.asarray(v, dtype=np.float64) for v in (tp, fp, positives))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(positives > 0, tp / positives, np.nan)
        f1 = np.where(positives > 0, 2 * tp / (2 * tp + fp + (positives - tp)), np.nan)
    return precision, recall, f1


def operating_point(
    conf: float | None,
    score: np.ndarray,
    category: np.ndarray,
    tp: np.ndarray,
    counted: np.ndarray,
    positives: np.ndarray,
) -> OperatingPoint:
    """Counts and rates of the detections scoring >= ``conf`` (None: no detection kept)."""
    num_classes = len(positives)
    kept = counted & (score >= (np.inf if conf is None else conf))
    tp_k = np.bincount(category[kept & tp], minlength=num_classes)
    fp_k = np.bincount(category[kept & ~tp], minlength=num_classes)
    fn_k = positives - tp_k
    p_k, r_k, f_k = rates(tp_k, fp_k, positives)
    p, r, f = (float(v) for v in rates(tp_k.sum(), fp_k.sum(), positives.sum()))
    per_class = {"tp": tp_k, "fp": fp_k, "fn": fn_k, "precision": p_k, "recall": r_k, "f1": f_k}
    return OperatingPoint(conf, int(tp_k.sum()), int(fp_k.sum()), int(fn_k.sum()), p, r, f, per_class)


def best_f1_conf(score: np.ndarray, tp: np.ndarray, counted: np.ndarray, positives: int) -> float | None:
    """The confidence (a detection score) with the highest all-classes F1; ties: the higher one."""
    s, hit = score[counted], tp[counted]
    if not len(s) or positives == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, tp_cum = s[order], np.cumsum(hit[order])
    fp_cum = np.arange(1, len(s) + 1) - tp_cum
    last = np.append(s[1:] != s[:-1], True)  # threshold = s keeps every detection scoring >= s
    f1 = 2 * tp_cum[last] / (tp_cum[last] + fp_cum[last] + positives)
    return float(s[last][int(np.argmax(f1))])


def curves(
    score: np.ndarray, category: np.ndarray, tp: np.ndarray, counted: np.ndarray, positives: np.ndarray
) -> dict[str, np.ndarray]:
    """Precision, recall and F1 over :data:`CONF_GRID`: ``[K + 1, G]`` each (last row: all classes)."""
    num_classes, grid = len(positives), len(CONF_GRID)
    level = np.searchsorted(CONF_GRID, score[counted], side="right")  # grid points a detection passes
    cell = category[counted] * (grid + 1) + level

    def above(weights: np.ndarray) -> np.ndarray:
        hist = np.bincount(cell, weights=weights, minlength=num_classes * (grid + 1)).reshape(num_classes, grid + 1)
        per_class = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]  # detections with level > j
        return np.vstack([per_class, per_class.sum(0)])

    tp_c = above(tp[counted].astype(np.float64))
    fp_c = above((~tp[counted]).astype(np.float64))
    all_pos = np.append(positives, positives.sum()).astype(np.float64)[:, None]
    precision, recall, f1 = rates(tp_c, fp_c, np.broadcast_to(all_pos, tp_c.shape))
    return {"conf": CONF_GRID, "precision": precision, "recall": recall, "f1": f1}
