"""Weighted box fusion (Solovyev et al., 2019) of several box sets, axis-aligned or rotated.

Several models (an ensemble) or several views of one image (test-time augmentation) each give
boxes with scores and classes. Unlike NMS, which keeps the best box of a group and drops the
others, fusion averages the boxes of a group, weighted by their scores, and scores the group by
how many of the sources found it:

1. every box gets ``score x weight`` of its source; boxes below ``skip_box_thr`` or without area
   are left out;
2. per class, boxes are taken from the highest score down; each joins the fused box of its class
   it overlaps most when that IoU is above ``iou_thr`` (the fused box is updated), else it starts
   a new one;
3. a fused box's coordinates are the score-weighted mean of its members; its score
   (``conf_type="avg"``) is the mean member score times ``min(n_sources, n_members) / sum(weights)``,
   so a box that only some sources found is scored down; ``"max"`` takes the best member score
   divided by the largest weight.

For axis-aligned boxes this is the ``avg``/``max`` fusion of the ``ensemble-boxes`` package
(``weighted_boxes_fusion``; checked equal in the tests, on boxes in pixels instead of [0, 1]).
Rotated boxes (``cx, cy, w, h, angle``, le90) match by exact rotated IoU and are averaged after
aligning each member with the group's first (best) box: the angle difference is taken modulo
pi, and a member whose long side points the other way (difference over 45 degrees) has its
sides swapped and its angle turned by 90 degrees first. So boxes at +89 and -89 degrees fuse
near +-90 degrees, never near 0, and a near-square box whose long side flips between models is
not averaged into a diagonal one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .rotated import rotated_iou

CONF_TYPES = ("avg", "max")

#: IoU above which a box joins a fused box (the ``ensemble-boxes`` default).
FUSION_IOU = 0.55


def weighted_boxes_fusion(
    boxes: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    weights: Sequence[float] | None = None,
    iou_thr: float = FUSION_IOU,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse the boxes of several sources; returns ``(boxes, scores, labels)`` by descending score.

    ``boxes[k]`` is source k's ``[N_k, 4]`` xyxy or ``[N_k, 5]`` rbox array (any unit, the same
    for all sources), ``scores[k]`` and ``labels[k]`` its ``[N_k]`` scores and integer classes.
    ``weights`` (default all 1) weighs the sources.
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(f"{len(boxes)} box sets, {len(scores)} score sets and {len(labels)} label sets given")
    weights = np.ones(len(boxes)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(weights) != len(boxes) or not (weights > 0).all():
        raise ValueError(f"weights: expected {len(boxes)} positive numbers, got {weights.tolist()}")
    width = next((np.asarray(b).reshape(len(b), -1).shape[1] for b in boxes if len(b)), 4)
    if width not in (4, 5):
        raise ValueError(f"boxes must be [N, 4] xyxy or [N, 5] rbox arrays, got width {width}")
    table, score, label = _gather(boxes, scores, labels, weights, skip_box_thr, width)
    fused: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for cls in np.unique(label):
        picked = label == cls
        order = np.argsort(-score[picked], kind="stable")
        group_boxes, group_scores = _fuse_class(table[picked][order], score[picked][order], iou_thr, conf_type, len(weights), weights)
        fused.append((group_boxes, group_scores, np.full(len(group_scores), cls, dtype=np.int64)))
    if not fused:
        return np.zeros((0, width)), np.zeros(0), np.zeros(0, dtype=np.int64)
    out_boxes, out_scores, out_labels = (np.concatenate(parts) for parts in zip(*fused))
    order = np.argsort(-out_scores, kind="stable")
    return out_boxes[order], out_scores[order], out_labels[order]


def _gather(boxes, scores, labels, weights, skip_box_thr, width) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All sources' boxes in one table, scores multiplied by their source's weight; boxes scored
    below ``skip_box_thr`` (before weighting) or without area left out."""
    tables, weighted, classes = [], [], []
    for source, (b, s, c) in enumerate(zip(boxes, scores, labels)):
        b = np.asarray(b, dtype=np.float64).reshape(-1, width)
        s, c = np.asarray(s, dtype=np.float64).reshape(-1), np.asarray(c).reshape(-1).astype(np.int64)
        if not len(b) == len(s) == len(c):
            raise ValueError(f"source {source}: {len(b)} boxes, {len(s)} scores, {len(c)} labels")
        if width == 4:
            b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        else:
            area = b[:, 2] * b[:, 3]
        keep = (s >= skip_box_thr) & (area > 0) & np.isfinite(b).all(axis=1) & np.isfinite(s)
        tables.append(b[keep])
        weighted.append(s[keep] * weights[source])
        classes.append(c[keep])
    return np.concatenate(tables), np.concatenate(weighted), np.concatenate(classes)


def _fuse_class(
    table: np.ndarray, score: np.ndarray, iou_thr: float, conf_type: str, n_sources: int, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy fusion of one class's boxes (sorted by descending score): fused boxes and scores."""
    rotated = table.shape[1] == 5
    n = len(table)
    fused = np.zeros((n, table.shape[1]))  # the current fused box of each group
    sums = np.zeros((n, 5))  # score-weighted sums of the (aligned) member coordinates
    total, best, count = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    first = np.zeros((n, table.shape[1]))  # each group's first (best) box: the reference of its rotated members
    groups = 0
    for box, s in zip(table, score):
        target = _best_match(fused[:groups], box, iou_thr, rotated)
        if target < 0:
            target, groups = groups, groups + 1
            fused[target] = first[target] = box
        member = _aligned(box, first[target]) if rotated else box
        sums[target, : len(member)] += s * member
        total[target] += s
        best[target] = max(best[target], s)
        count[target] += 1
        fused[target] = _mean_box(sums[target], total[target], first[target]) if rotated else sums[target, :4] / total[target]
    count, total, best = count[:groups], total[:groups], best[:groups]
    if conf_type == "max":
        fused_score = best / weights.max()
    else:
        fused_score = total / count * np.minimum(n_sources, count) / weights.sum()
    return fused[:groups], fused_score


def _best_match(fused: np.ndarray, box: np.ndarray, iou_thr: float, rotated: bool) -> int:
    """Index of the fused box that ``box`` overlaps most, if that IoU exceeds ``iou_thr``; else -1."""
    if not len(fused):
        return -1
    if rotated:
        ious = _rotated_ious(fused, box)
    else:
        lt = np.maximum(fused[:, :2], box[:2])
        rb = np.minimum(fused[:, 2:], box[2:])
        inter = np.clip(rb - lt, 0, None).prod(axis=1)
        area = (fused[:, 2:] - fused[:, :2]).prod(axis=1)
        ious = inter / (area + (box[2:] - box[:2]).prod() - inter)
    index = int(np.argmax(ious))
    return index if ious[index] > iou_thr else -1


def _rotated_ious(fused: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Exact rotated IoU of ``box`` with each fused box (:func:`rotated_iou` computes only the pairs whose circles meet)."""
    return rotated_iou(torch.from_numpy(fused), torch.from_numpy(box[None])).numpy()[:, 0]


def _aligned(box: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``box`` as (cx, cy, w, h, angle offset from ``reference``): the offset modulo pi in
    [-pi/4, pi/4], sides swapped when the long side points the other way."""
    cx, cy, w, h, angle = box
    offset = np.remainder(angle - reference[4] + np.pi / 2, np.pi) - np.pi / 2  # in [-pi/2, pi/2)
    if abs(offset) > np.pi / 4:
        w, h = h, w
        offset -= np.copysign(np.pi / 2, offset)
    return np.array([cx, cy, w, h, offset])


def _mean_box(sums: np.ndarray, total: float, reference: np.ndarray) -> np.ndarray:
    """The fused rotated box from the members' weighted sums, in le90 (w >= h, angle in [-pi/2, pi/2))."""
    cx, cy, w, h, offset = sums / total
    angle = reference[4] + offset
    if w < h:
        w, h, angle = h, w, angle + np.pi / 2
    return np.array([cx, cy, w, h, np.remainder(angle + np.pi / 2, np.pi) - np.pi / 2])
