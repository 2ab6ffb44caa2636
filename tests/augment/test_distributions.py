"""Statistics: yoloxkit's pipeline and the reference's, each with its own random stream, agree in distribution.

Both run on COCO128 (as COCO JSON, 320 input) for 600 samples; compared are the objects per
sample and each box's width, height and centre x, y with the two-sample Kolmogorov-Smirnov
statistic. Boxes of one sample are correlated (same mosaic centre and affine), so the bound is
the KS critical value at alpha = 0.001 for the number of SAMPLES, not of boxes (conservative).
A control shows the bound has teeth: the tiny/nano affine scale range against the default one
is caught. The no-augmentation mode is covered exactly by ``test_reference_replay``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from yoloxkit.augment import AugmentConfig, TrainPipeline
from yoloxkit.loader import TrainSource

from .conftest import SIZE
from .helpers import ks_statistic

SAMPLES = 600
KS_BOUND = 1.95 * (2 / SAMPLES) ** 0.5  # 0.113


def _statistics(targets: list[np.ndarray]) -> dict[str, np.ndarray]:
    rows = [t[t.any(axis=1)] for t in targets]
    boxes = np.concatenate(rows)
    return {"objects": np.array([len(r) for r in rows]), "w": boxes[:, 3], "h": boxes[:, 4], "cx": boxes[:, 1], "cy": boxes[:, 2]}


def _reference(reference_dataset, options: dict, mosaic: bool, seed: int) -> dict[str, np.ndarray]:
    dataset = reference_dataset(**options)
    random.seed(seed)
    np.random.seed(seed)
    indices = np.random.default_rng(seed).integers(0, len(dataset), SAMPLES).tolist()
    return _statistics([dataset[(mosaic, i)][1] for i in indices])


def _ours(source: TrainSource, config: AugmentConfig, mosaic: bool, seed: int) -> dict[str, np.ndarray]:
    pipeline = TrainPipeline(source, config)
    rng = np.random.default_rng(seed + 1000)
    indices = np.random.default_rng(seed).integers(0, len(source), SAMPLES).tolist()
    return _statistics([pipeline(i, rng, mosaic)[1] for i in indices])


def _gaps(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    return {key: ks_statistic(a[key], b[key]) for key in a}


CASES = {
    "default": ({}, {}, True),
    "tiny": ({"enable_mixup": False, "mosaic_scale": (0.5, 1.5)}, {"enable_mixup": False, "mosaic_scale": (0.5, 1.5)}, True),
    "nano": ({"enable_mixup": False, "mosaic_scale": (0.5, 1.5), "mosaic_prob": 0.5},
             {"enable_mixup": False, "mosaic_scale": (0.5, 1.5), "mosaic_prob": 0.5}, True),  # fmt: skip
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_distributions_as_the_reference(case: str, reference_dataset, our_source: TrainSource):
    ours, theirs, mosaic = CASES[case]
    reference = _reference(reference_dataset, theirs, mosaic, seed=3)
    mine = _ours(our_source, AugmentConfig(input_size=SIZE, **ours), mosaic, seed=3)
    gaps = _gaps(mine, reference)
    assert max(gaps.values()) < KS_BOUND, gaps
    ratio = mine["objects"].mean() / reference["objects"].mean()
    assert 0.9 < ratio < 1.1, (mine["objects"].mean(), reference["objects"].mean())


def test_the_bound_catches_a_wrong_scale_range(reference_dataset, our_source: TrainSource):
    reference = _reference(reference_dataset, {"enable_mixup": False}, True, seed=4)
    wrong = _ours(our_source, AugmentConfig(input_size=SIZE, enable_mixup=False, mosaic_scale=(0.5, 1.5)), True, seed=4)
    assert max(_gaps(wrong, reference).values()) > KS_BOUND
