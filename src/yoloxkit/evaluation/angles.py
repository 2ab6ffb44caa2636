"""Angle errors of oriented detections: how far each detected box's orientation is from its object's.

A rectangle ``(w, h, a)`` is the same as ``(h, w, a + pi/2)`` and as ``(w, h, a + pi)``, so the
orientation compared is the direction of the **long side**, modulo pi (for the ground truth that
is the le90 angle, where ``w >= h``). A nearly square object (long / short side below
``square_ratio``) has no well-defined long side: its error is taken modulo pi/2, the symmetry of a
square, and the object is flagged ``near_square`` so that callers can report it apart.

Matching (:func:`angle_errors`): per image and class, each non-difficult object takes the
highest-scoring detection of its class whose rotated IoU with it is at least ``iou_threshold``
(0.5 by default); objects without one count as ``missed``. The inputs are those of
:func:`yoloxkit.evaluation.dota.evaluate_task1`, so the detections scored for mAP give the angle
errors too.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..dota.task1 import Task1Detections
from ..ops.rotated import rotated_iou
from ..structures.boxes import BoxFormat, angle_difference, convert
from .dota import DotaGroundTruth

#: Default bin edges (degrees) of :meth:`AngleErrors.per_bin`: 10-degree bins at both ends of
#: the le90 range (the +-90 wrap), wider ones between.
DEFAULT_BIN_EDGES = (-90.0, -80.0, -45.0, -10.0, 10.0, 45.0, 80.0, 90.0)


def long_side_angle(rboxes: np.ndarray) -> np.ndarray:
    """Direction (radians, in ``[-pi/2, pi/2)``) of the long side of each ``[N, 5]`` rbox row."""
    rboxes = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    angle = np.where(rboxes[:, 2] >= rboxes[:, 3], rboxes[:, 4], rboxes[:, 4] + np.pi / 2)
    return np.remainder(angle + np.pi / 2, np.pi) - np.pi / 2


@dataclass(frozen=True)
class AngleBin:
    """Angle-error statistics (degrees) of the matched objects whose angle lies in ``[low, high)``."""

    low: float
    high: float
    count: int
    median: float  # NaN when the bin is empty (so are the others)
    p90: float
    max: float


@dataclass
class AngleErrors:
    """Per matched object (row-aligned): its le90 angle, the angle error, the IoU, the near-square flag."""

    angle: np.ndarray  # float64 [M] radians: the object's long-side angle
    error: np.ndarray  # float64 [M] radians: modulo pi (modulo pi/2 for near-squares)
    iou: np.ndarray  # float64 [M]: rotated IoU of the match
    near_square: np.ndarray  # bool [M]
    missed: int  # non-difficult objects without a detection at the IoU threshold

    def select(self, mask: np.ndarray) -> AngleErrors:
        """The rows where ``mask`` holds (``missed`` kept)."""
        return AngleErrors(self.angle[mask], self.error[mask], self.iou[mask], self.near_square[mask], self.missed)

    def elongated(self) -> AngleErrors:
        """Only the objects with a well-defined long side (not near-square)."""
        return self.select(~self.near_square)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the errors in degrees (NaN without matches)."""
        return float(np.degrees(np.percentile(self.error, q))) if len(self.error) else float("nan")

    def per_bin(self, edges: Sequence[float] = DEFAULT_BIN_EDGES) -> list[AngleBin]:
        """Error statistics per bin of the object angle; ``edges`` in degrees (the last bin includes its upper edge)."""
        degrees = np.degrees(self.angle)
        bins = []
        for k, (low, high) in enumerate(itertools.pairwise(edges)):
            inside = (degrees >= low) & ((degrees < high) if k < len(edges) - 2 else (degrees <= high))
            part = self.select(inside)
            top = float(np.degrees(part.error.max())) if len(part.error) else float("nan")
            bins.append(AngleBin(float(low), float(high), int(inside.sum()), part.percentile(50), part.percentile(90), top))
        return bins

    def to_dict(self, edges: Sequence[float] = DEFAULT_BIN_EDGES) -> dict:
        """JSON-ready totals and per-bin statistics in degrees (``null`` where a bin is empty)."""

        def number(value: float) -> float | None:
            return None if np.isnan(value) else round(value, 4)

        return {
            "matched": len(self.error),
            "near_square": int(self.near_square.sum()),
            "missed": self.missed,
            "median_deg": number(self.percentile(50)),
            "p90_deg": number(self.percentile(90)),
            "bins": [
                {"low": b.low, "high": b.high, "objects": b.count, "median_deg": number(b.median),
                 "p90_deg": number(b.p90), "max_deg": number(b.max)}
                for b in self.per_bin(edges)
            ],
        }  # fmt: skip

    def summary(self, edges: Sequence[float] = DEFAULT_BIN_EDGES) -> str:
        """Table of the per-bin errors (degrees) with the totals and the number of missed objects."""
        lines = [f"{'angle bin (deg)':<16} {'objects':>7} {'median':>7} {'p90':>7} {'max':>7}"]
        bins = self.per_bin(edges)
        for k, b in enumerate(bins):
            close = "]" if k == len(bins) - 1 else ")"  # the last bin includes its upper edge
            stats = " ".join("      -" if np.isnan(v) else f"{v:7.2f}" for v in (b.median, b.p90, b.max))
            lines.append(f"[{b.low:+4.0f}, {b.high:+4.0f}{close}{'':<4} {b.count:7d} {stats}")
        squares = int(self.near_square.sum())
        lines.append(
            f"all {len(self.error)} matched ({squares} near-square, compared mod 90 deg): median {self.percentile(50):.2f}, "
            f"p90 {self.percentile(90):.2f} deg; {self.missed} objects missed"
        )
        return "\n".join(lines)


def _match_one(
    gt_rboxes: np.ndarray, det_rboxes: np.ndarray, det_scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each object: index of the best-scoring detection with IoU >= threshold (-1: none), and that IoU."""
    if not len(det_rboxes):
        return np.full(len(gt_rboxes), -1), np.zeros(len(gt_rboxes))
    iou = rotated_iou(torch.from_numpy(gt_rboxes), torch.from_numpy(det_rboxes)).numpy()
    eligible = np.where(iou >= iou_threshold, det_scores[None, :], -np.inf)
    best = eligible.argmax(1)
    found = np.isfinite(eligible[np.arange(len(gt_rboxes)), best])
    return np.where(found, best, -1), np.where(found, iou[np.arange(len(gt_rboxes)), best], 0.0)


def angle_errors(
    gt: DotaGroundTruth,
    detections: Mapping[str, Task1Detections],
    iou_threshold: float = 0.5,
    square_ratio: float = 1.2,
) -> AngleErrors:
    """Angle errors of ``detections`` (``{class name: Task1 rows}``) on the non-difficult objects of ``gt``.

    Images are matched by name as :func:`~yoloxkit.evaluation.dota.evaluate_task1` does; see the
    module docstring for the matching and the symmetry rules.
    """
    angles, errors, ious, squares, missed = [], [], [], [], 0
    for k, name in enumerate(gt.class_names):
        det = detections.get(name) or Task1Detections([], np.zeros(0), np.zeros((0, 8)))
        g = np.flatnonzero((gt.category == k) & ~gt.difficult)
        if not len(g):
            continue
        gt_rboxes = convert(gt.quads[g], BoxFormat.QBOX, BoxFormat.RBOX).astype(np.float64)
        det_rboxes = convert(det.quads, BoxFormat.QBOX, BoxFormat.RBOX).astype(np.float64).reshape(-1, 5)
        det_images = np.array(det.images, dtype=object)
        for image in np.unique(gt.image[g]):
            rows = np.flatnonzero(gt.image[g] == image)
            cols = np.flatnonzero(det_images == gt.images[image])
            best, iou = _match_one(gt_rboxes[rows], det_rboxes[cols], det.scores[cols], iou_threshold)
            hit = best >= 0
            missed += int((~hit).sum())
            objects, found = gt_rboxes[rows[hit]], det_rboxes[cols[best[hit]]]
            square = objects[:, 2] < square_ratio * objects[:, 3]
            angles.append(long_side_angle(objects))
            errors.append(angle_difference(long_side_angle(found), angles[-1], np.where(square, np.pi / 2, np.pi)))
            ious.append(iou[hit])
            squares.append(square)
    empty = np.zeros(0)
    return AngleErrors(
        np.concatenate(angles) if angles else empty,
        np.concatenate(errors) if errors else empty,
        np.concatenate(ious) if ious else empty,
        np.concatenate(squares) if squares else np.zeros(0, bool),
        missed,
    )
