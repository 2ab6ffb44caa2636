"""Bootstrap over seeds and images: is B's COCO AP really higher than A's, or is it noise?

Each side is one run or several (the same recipe trained with different seeds). One resample
draws, with replacement, as many runs as each side has (seeds: the training noise) and as many
images as the split holds (the data noise; the same images for both sides); the statistic is the
mean AP of the drawn runs of B minus that of A on the drawn images. The 2.5 and 97.5 percentiles
over the resamples give the 95 % interval (a hierarchical, percentile bootstrap). With one run
per side no seed is drawn and this is the paired image bootstrap, which says nothing about how
much another seed would change either side.

An image drawn ``c`` times counts ``c`` times: its detections and objects get weight ``c`` in the
cumulative counts, which gives exactly the AP of the split with the image repeated. With every
weight 1 the statistic is the reported COCO AP to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import YoloxkitError
from .cocometrics import interpolated_precision
from .groundtruth import GroundTruth
from .matching import CocoMatches


#: Bins of the histogram of the resampled differences (drawn on the comparison page).
HISTOGRAM_BINS = 30


@dataclass
class BootstrapResult:
    """Mean AP of A's and B's runs, their difference and its bootstrap confidence interval."""

    ap_a: float  # mean over A's runs
    ap_b: float
    delta: float  # ap_b - ap_a
    low: float
    high: float
    share_not_better: float  # share of resamples in which B does not beat A
    samples: int
    seed: int
    runs_a: list[float] = field(default_factory=list)  # AP of each run on the whole split
    runs_b: list[float] = field(default_factory=list)
    histogram: dict[str, list] = field(default_factory=dict)  # "edges" [bins + 1] and "counts" [bins] of the deltas

    @property
    def seeds_counted(self) -> bool:
        """Whether seed-to-seed noise is part of the interval (several runs on a side)."""
        return max(len(self.runs_a), len(self.runs_b)) > 1

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(vars(self)) | {"seeds_counted": self.seeds_counted}


class WeightedAP:
    """COCO AP (IoU 0.50:0.95, all sizes, 100 detections) of one matching under image weights."""

    def __init__(self, matches: CocoMatches, gt: GroundTruth) -> None:
        dets = matches.dets
        order = dets.accumulation_order()
        self.image = dets.image[order]
        self.tps = matches.true_positive[0][:, order].astype(np.float64)
        self.fps = matches.false_positive[0][:, order].astype(np.float64)
        self.bounds = np.searchsorted(dets.category[order], np.arange(gt.num_classes + 1))
        counted = ~matches.gt_ignored[0]
        self.gt_image, self.gt_category, self.num_classes = gt.image[counted], gt.category[counted], gt.num_classes

    def __call__(self, weights: np.ndarray) -> float:
        """AP with image ``i`` counted ``weights[i]`` times (-1 when no object counts)."""
        w = weights[self.image]
        positives = np.bincount(self.gt_category, weights=weights[self.gt_image], minlength=self.num_classes)
        npig = np.broadcast_to(positives, (self.tps.shape[0], self.num_classes))
        q, _ = interpolated_precision(self.tps * w, self.fps * w, self.bounds, npig)
        s = q.transpose(0, 2, 1)  # [T, R, K], the element order of COCOeval.summarize
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else -1.0


def paired_bootstrap(
    a: CocoMatches, b: CocoMatches, gt: GroundTruth, samples: int = 1000, seed: int = 0
) -> BootstrapResult:
    """AP(A), AP(B) and a 95 % percentile interval of AP(B) - AP(A) over ``samples`` image resamples."""
    return seed_bootstrap([a], [b], gt, samples, seed)


def seed_bootstrap(
    a: Sequence[CocoMatches],
    b: Sequence[CocoMatches],
    gt: GroundTruth,
    samples: int = 1000,
    seed: int = 0,
    resample_runs: bool = True,
) -> BootstrapResult:
    """Mean AP of the runs ``a`` and ``b`` and a 95 % interval of the difference, resampling runs
    (when a side has several) and images (see the module docstring). ``resample_runs=False``
    resamples images only: the interval then ignores how much the means would move with other
    seeds (for comparison; it is too narrow to judge recipes by)."""
    if gt.num_images == 0:
        raise YoloxkitError("cannot bootstrap over a split without images")
    if samples < 1:
        raise YoloxkitError(f"the number of bootstrap samples must be >= 1, got {samples}")
    if not a or not b:
        raise YoloxkitError("each side of a comparison needs at least one run")
    side_a, side_b = [WeightedAP(m, gt) for m in a], [WeightedAP(m, gt) for m in b]
    ones = np.ones(gt.num_images)
    runs_a, runs_b = [ap(ones) for ap in side_a], [ap(ones) for ap in side_b]
    rng = np.random.default_rng(seed)
    deltas = np.empty(samples)
    for i in range(samples):
        weights = np.bincount(rng.integers(0, gt.num_images, gt.num_images), minlength=gt.num_images).astype(np.float64)
        drawn_a = _draw(rng, len(side_a), resample_runs)  # drawn after the images: one run per side keeps
        drawn_b = _draw(rng, len(side_b), resample_runs)  # the stream (and numbers) of the paired bootstrap
        deltas[i] = _mean_ap(side_b, drawn_b, weights) - _mean_ap(side_a, drawn_a, weights)
    low, high = np.percentile(deltas, [2.5, 97.5])
    mean_a, mean_b = float(np.mean(runs_a)), float(np.mean(runs_b))
    counts, edges = np.histogram(deltas, bins=HISTOGRAM_BINS)
    return BootstrapResult(
        mean_a, mean_b, mean_b - mean_a, float(low), float(high), float(np.mean(deltas <= 0)), samples, seed,
        runs_a, runs_b, {"edges": edges.tolist(), "counts": counts.tolist()},
    )  # fmt: skip


def _draw(rng: np.random.Generator, runs: int, resample: bool) -> np.ndarray:
    """How often each of ``runs`` runs is drawn (each once when there is one or no resampling)."""
    if runs == 1 or not resample:
        return np.ones(runs, dtype=np.int64)
    return np.bincount(rng.integers(0, runs, runs), minlength=runs)


def _mean_ap(side: list[WeightedAP], drawn: np.ndarray, weights: np.ndarray) -> float:
    """Mean AP over the drawn runs (each run evaluated once, counted as often as drawn)."""
    return float(sum(count * side[r](weights) for r, count in enumerate(drawn) if count) / drawn.sum())
