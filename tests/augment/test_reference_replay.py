"""Draw for draw: fed the reference's own random numbers, yoloxkit's pipeline gives the reference's samples.

The reference (``MosaicDetection`` + ``TrainTransform`` on COCO128 as COCO JSON) runs with its
``random`` / ``np.random`` calls recorded; the draws are replayed, by kind and in order, into
yoloxkit's :class:`TrainPipeline`, which must ask for each from the same range as the reference
(so the distributions are the reference's) and consume every one (same structure of randomness),
the label rows must agree to float precision and the images pixel for pixel — except when all
three HSV offsets are 0 (yoloxkit skips the reference's lossy BGR -> HSV -> BGR round trip) and for
rare one-level differences of the warp (whose matrix yoloxkit shifts to the painted canvas part;
HSV and mixup can turn them into up to three levels).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from yoloxkit.augment import AugmentConfig, TrainPipeline
from yoloxkit.loader import TrainSource

from .conftest import SIZE

SAMPLES = 40


class Recorder:
    """Records ``random.random/uniform/randint`` and ``np.random.uniform/randint``: (bounds, value) by kind.

    Integer bounds are stored half-open, ``[low, high)`` (Python's ``randint`` includes ``high``).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.draws: dict[str, list] = {"random": [], "uniform": [], "integers": []}
        wrapped = ((random, "random", "random", 0), (random, "uniform", "uniform", 0), (random, "randint", "integers", 1),
                   (np.random, "uniform", "uniform", 0), (np.random, "randint", "integers", 0))  # fmt: skip
        for module, name, kind, inclusive in wrapped:
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), kind, inclusive))

    def _wrap(self, original: Callable, kind: str, inclusive: int) -> Callable:
        def recorded(*args: float) -> object:
            value = original(*args)
            bounds = (args[0], args[1] + inclusive) if args else ()
            self.draws[kind].append((bounds, value))
            return value

        return recorded

    def take(self) -> dict[str, list]:
        """The draws so far (and start afresh)."""
        draws, self.draws = self.draws, {kind: [] for kind in self.draws}
        return draws


class ScriptedRng:
    """Stands in for ``np.random.Generator``: returns the recorded draws of the asked kind in order,
    after checking that yoloxkit asks for the same distribution (bounds) as the reference did."""

    def __init__(self, draws: dict[str, list]) -> None:
        self.queues = {kind: list(values) for kind, values in draws.items()}

    def _pop(self, kind: str, bounds: tuple, size: int | None = None) -> object:
        items = [self.queues[kind].pop(0)]
        if size is not None and not np.ndim(items[0][1]):
            items += [self.queues[kind].pop(0) for _ in range(size - 1)]
        for expected, _ in items:
            assert np.allclose(bounds, expected), f"{kind} drawn from {bounds}, the reference draws from {expected}"
        return items[0][1] if len(items) == 1 else np.array([value for _, value in items])

    def random(self) -> float:
        return self._pop("random", ())

    def uniform(self, low: float, high: float, size: int | None = None) -> object:
        return self._pop("uniform", (low, high), size)

    def integers(self, low: int, high: int, size: int | None = None) -> object:
        return self._pop("integers", (low, high), size)


CASES = {
    "default (mosaic, mixup)": ({}, {}, True),
    "no mixup, scale 0.5-1.5 (tiny)": ({"enable_mixup": False, "mosaic_scale": (0.5, 1.5)}, {"enable_mixup": False, "mosaic_scale": (0.5, 1.5)}, True),
    "mosaic prob 0.5 (nano)": ({"mosaic_prob": 0.5, "enable_mixup": False}, {"mosaic_prob": 0.5, "enable_mixup": False}, True),
    "no-aug epochs": ({}, {}, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_replayed_draws_give_the_reference_samples(case: str, reference_dataset, our_source: TrainSource, monkeypatch):
    ours, theirs, mosaic = CASES[case]
    reference = reference_dataset(**theirs)
    pipeline = TrainPipeline(our_source, AugmentConfig(input_size=SIZE, **ours))
    recorder = Recorder(monkeypatch)
    random.seed(1)
    np.random.seed(1)
    exact = 0
    for index in np.random.default_rng(2).integers(0, len(our_source), SAMPLES).tolist():
        ref_image, ref_targets, _, _ = reference[(mosaic, index)]
        draws = recorder.take()
        rng = ScriptedRng(draws)
        image, targets = pipeline(index, rng, mosaic)
        assert all(not queue for queue in rng.queues.values()), f"draws left over: {rng.queues}"
        np.testing.assert_allclose(targets, ref_targets, atol=2e-3, err_msg=f"image {index}")
        ref_image = ref_image.transpose(1, 2, 0).astype(np.uint8)
        switches = [value for _, value in draws["integers"] if np.ndim(value)]  # augment_hsv's channel switches
        hsv_skipped = switches and not (draws["uniform"][-1][1] * np.array((5, 30, 30)) * switches[0]).astype(np.int16).any()
        diff = np.abs(image.astype(np.int16) - ref_image)
        if not hsv_skipped:
            assert diff.max() <= 3 and (diff > 0).mean() < 1e-3, f"image {index}: {(diff > 0).sum()} pixels differ"
            exact += int(diff.max() == 0)
    assert exact >= SAMPLES // 2
