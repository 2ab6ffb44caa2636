"""Paired bootstrap over images: is B's COCO AP really higher than A's, or is it noise?

Both prediction sets are evaluated on the same resampled images (drawn with replacement, as many
as the split holds); the spread of ``AP(B) - AP(A)`` over the resamples gives a percentile 95 %
confidence interval. An image drawn ``c`` times counts ``c`` times: its detections and objects
get weight ``c`` in the cumulative counts, which gives exactly the AP of the split with the image
repeated. With every weight 1 the statistic is the reported COCO AP to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import YoloxkitError
from .cocometrics import interpolated_precision
from .groundtruth import GroundTruth
from .matching import CocoMatches


@dataclass
class BootstrapResult:
    """AP of A and B, their difference and its bootstrap confidence interval."""

    ap_a: float
    ap_b: float
    delta: float  # ap_b - ap_a
    low: float
    high: float
    share_not_better: float  # share of resamples in which B does not beat A
    samples: int
    seed: int

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(vars(self))


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
    if gt.num_images == 0:
        raise YoloxkitError("cannot bootstrap over a split without images")
    if samples < 1:
        raise YoloxkitError(f"the number of bootstrap samples must be >= 1, got {samples}")
    ap_a, ap_b = WeightedAP(a, gt), WeightedAP(b, gt)
    ones = np.ones(gt.num_images)
    base_a, base_b = ap_a(ones), ap_b(ones)
    rng = np.random.default_rng(seed)
    deltas = np.empty(samples)
    for i in range(samples):
        weights = np.bincount(rng.integers(0, gt.num_images, gt.num_images), minlength=gt.num_images).astype(np.float64)
        deltas[i] = ap_b(weights) - ap_a(weights)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return BootstrapResult(
        base_a, base_b, base_b - base_a, float(low), float(high), float(np.mean(deltas <= 0)), samples, seed
    )
