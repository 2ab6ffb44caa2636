"""The rotated half of the parity check: final detections of a rotated export (host rotated NMS)
matched as sets against PyTorch's, with NMS swaps and score-threshold flickers explained."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..ops import rotated_iou, rotated_postprocess
from ..structures.boxes import angle_difference
from .metadata import HostPostprocess
from .tolerance import Tolerance

#: Rotated exports, fp32: share of an image's detections (plus one), counted per side, that may
#: lack a counterpart after the host rotated NMS without an explanation. Greedy NMS over the
#: thousands of candidates that score 0.01 is discontinuous: a 1e-7 difference at the score or IoU
#: threshold, or between two near-equal scores of overlapping boxes, keeps one box instead of
#: another. Clear cases are explained (not counted): a swap (an unmatched pair of one class, one
#: per side, overlapping at IoU >= the NMS threshold, scores within 2 x the probability
#: tolerance) and a row whose score lies within that of the score threshold
#: (``benchmarks/rotated_export_nms.py`` measures what remains on a random model at 1024).
ROTATED_UNMATCHED_SHARE = 0.01

#: Detection pairs compared at once when matching rotated detections: bounds the matcher's memory
#: whatever the number of detections (measured: 2,400 detections of one class peak at 51 MB,
#: where comparing all pairs at once took 645 MB, in the same time).
MATCH_BLOCK_PAIRS = 1 << 18


@dataclass
class RotatedComparison:
    """The rotated detections of one batch compared: PyTorch detections, unexplained and explained
    rows without a counterpart, and the failure lines (empty when within tolerance)."""

    detections: int = 0
    unmatched: int = 0
    explained: int = 0
    failures: list[str] = field(default_factory=list)


def compare_rotated_detections(
    got: torch.Tensor, expected: torch.Tensor, settings: HostPostprocess, tol: Tolerance, where: str
) -> RotatedComparison:
    """The final detections of a rotated export (host rotated NMS at ``settings``' thresholds) vs PyTorch's.

    Matched as sets, not row by row: a row matches a row of the other side with the same class
    and every value within the tolerance (angles modulo pi). The decoded outputs were compared
    element-wise before, so a row left without a counterpart is an NMS or threshold decision,
    not a moved box; the clear ones are explained (see :data:`ROTATED_UNMATCHED_SHARE`). The rest,
    counted per side, are ``unmatched``; fp32 fails an image with more than ``1 +``
    :data:`ROTATED_UNMATCHED_SHARE` ``x`` PyTorch's rows of them. With the tolerance's
    ``nms_count_slack`` (fp16) only the counts are held to it, as for NMS graphs; ungated
    tolerances (bf16, int8) only count.
    """
    result = RotatedComparison()
    conf, iou = settings.conf, settings.iou
    pairs = zip(rotated_postprocess(got, conf, iou), rotated_postprocess(expected, conf, iou))
    for image, (rows, want) in enumerate(pairs):
        rows, want = rows.numpy().astype(np.float64), want.numpy().astype(np.float64)
        result.detections += len(want)
        lone_rows, lone_want = unmatched_rows(rows, want, tol)
        left_rows, left_want = unexplained(rows[lone_rows], want[lone_want], settings, tol)
        unmatched = max(left_rows, left_want)
        result.unmatched += unmatched
        result.explained += max(len(lone_rows), len(lone_want)) - unmatched
        label = f"batch {where}, image {image}"
        if not tol.gating:
            continue
        if tol.nms_count_slack:
            if abs(len(rows) - len(want)) > 1 + tol.nms_count_slack * len(want):
                result.failures.append(f"{label}: {len(rows)} detections, PyTorch {len(want)}")
        elif unmatched > 1 + ROTATED_UNMATCHED_SHARE * len(want):
            result.failures.append(
                f"{label}: {left_rows} of {len(rows)} exported and {left_want} of {len(want)} PyTorch detections "
                "have no counterpart within the tolerance (nor an NMS swap or the score threshold to explain it)"
            )
    return result


def unmatched_rows(rows: np.ndarray, want: np.ndarray, tol: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the rotated rows ``[R, 8]`` and of ``want [W, 8]`` left without a counterpart.

    Greedy one-to-one pairing: each ``want`` row in order takes the first free row with the same
    class and every value within the tolerance (angles modulo pi); matched rows are
    near-identical, so the first one will do. ``want`` is taken in blocks of columns, so that at
    most :data:`MATCH_BLOCK_PAIRS` pairs are compared at once.
    """
    limits = np.concatenate(
        [tol.box_atol + tol.box_rtol * np.abs(want[:, :5]), np.full((len(want), 2), tol.prob_atol), np.zeros((len(want), 1))], 1
    )  # the class (last column) must be equal
    taken, done = np.zeros(len(rows), dtype=bool), np.zeros(len(want), dtype=bool)
    block = max(1, MATCH_BLOCK_PAIRS // max(1, len(rows)))
    for start in range(0, len(want), block):
        gaps = np.abs(rows[:, None, :] - want[None, start : start + block])
        gaps[..., 4] = angle_difference(rows[:, None, 4], want[None, start : start + block, 4])
        close = (gaps <= limits[None, start : start + block]).all(-1)
        for k in range(close.shape[1]):
            free = np.flatnonzero(close[:, k] & ~taken)
            if free.size:
                taken[free[0]] = done[start + k] = True
    return np.flatnonzero(~taken), np.flatnonzero(~done)


def unexplained(rows: np.ndarray, want: np.ndarray, settings: HostPostprocess, tol: Tolerance) -> tuple[int, int]:
    """How many unmatched exported ``rows`` and PyTorch ``want`` rows an NMS decision does not explain.

    Explained: a row whose score lies within ``2 x prob_atol`` of the score threshold (kept on
    one side only), and a swap: a row and a want row of the same class, overlapping at rotated
    IoU >= the NMS threshold, scores within ``2 x prob_atol`` (two near-tied boxes, each side
    keeping the other one), paired one-to-one.
    """
    slack = 2 * tol.prob_atol  # a score is the product of two probabilities, each within prob_atol
    rows = rows[np.abs(rows[:, 5] * rows[:, 6] - settings.conf) > slack]
    want = want[np.abs(want[:, 5] * want[:, 6] - settings.conf) > slack]
    if not (len(rows) and len(want)):
        return len(rows), len(want)
    overlap = rotated_iou(torch.from_numpy(rows[:, :5]), torch.from_numpy(want[:, :5])).numpy()
    swap = (
        (overlap >= settings.iou)
        & (rows[:, None, 7] == want[None, :, 7])
        & (np.abs(rows[:, None, 5] * rows[:, None, 6] - want[None, :, 5] * want[None, :, 6]) <= slack)
    )
    used = np.zeros(len(want), dtype=bool)
    swaps = 0
    for candidates in swap:
        free = np.flatnonzero(candidates & ~used)
        if free.size:
            used[free[0]] = True
            swaps += 1
    return len(rows) - swaps, len(want) - swaps
