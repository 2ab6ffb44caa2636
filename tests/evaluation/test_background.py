"""The evaluator's second core (evaluation/background.py): a background thread computes COCO's
accumulation and the per-class thresholds while the caller runs the analyses; the result is the
one computed in the calling thread, errors reach the caller, and ``YOLOXKIT_SERIAL`` turns it off."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.datasets.load import load_dataset
from yoloxkit.evaluation import Evaluator, background, load_ground_truth
from yoloxkit.evaluation import evaluator as evaluator_module

from .helpers import COCO128, perfect, random_boxes


def thread_and_sum(values: np.ndarray) -> tuple[str, float]:
    return threading.current_thread().name, float(values.sum())


def test_the_step_runs_in_a_background_thread_or_serially(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(background.SERIAL_ENV, raising=False)
    values = np.arange(1_000_000, dtype=np.float64)
    name, total = background.start(thread_and_sum, values)()
    assert total == float(values.sum())
    assert name.startswith("yoloxkit-eval") == (background.usable_cpus() >= 2)  # one CPU: in the caller
    monkeypatch.setenv(background.SERIAL_ENV, "1")
    assert background.start(thread_and_sum, values)()[0] == threading.current_thread().name


def test_an_error_in_the_background_reaches_the_caller() -> None:
    def fails() -> None:
        raise ValueError("from the background")

    wait = background.start(fails)
    with pytest.raises(ValueError, match="from the background"):
        wait()


def test_compute_in_the_background_equals_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = load_dataset(COCO128)
    coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(0)
    results = perfect(coco, rng)[::2] + random_boxes(coco, rng, per_image=20)  # half the objects found, and noise
    runs = []
    for threshold in (0, 10**12):  # in the background, then in the caller
        monkeypatch.setattr(evaluator_module, "PARALLEL_MIN_DETECTIONS", threshold)
        evaluator = Evaluator(load_ground_truth(dataset, "val"), resamples=20)
        evaluator.update_results(results)
        runs.append(evaluator.compute())
    a, b = runs
    np.testing.assert_array_equal(a.precision, b.precision)
    np.testing.assert_array_equal(a.recall, b.recall)
    assert a.coco == b.coco and a.coco["AP"] > 0
    for name, column in b.per_class.items():
        np.testing.assert_array_equal(a.per_class[name], column)
    assert [c.conf for c in a.operating.classes] == [c.conf for c in b.operating.classes]
