"""The evaluator's second core (evaluation/forked.py): a forked child computes COCO's accumulation
while the parent runs the analyses; the result is the one computed in-process, and any failure of
the child falls back to computing in-process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from yoloxkit.datasets.load import load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.evaluation import Evaluator, evaluator as evaluator_module, forked, load_ground_truth

from .helpers import COCO128, perfect, random_boxes

PARENT = os.getpid()


def pid_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def fails_in_a_child(values: np.ndarray) -> float:
    if os.getpid() != PARENT:
        raise RuntimeError("child only")
    return float(values.sum())


def test_the_child_computes_and_returns_the_result() -> None:
    values = np.arange(1_000_000, dtype=np.float64)
    pid, total = forked.start(pid_and_sum, values)()
    assert (pid != os.getpid()) == (forked.usable_cpus() >= 2)  # one CPU: computed in-process
    assert total == float(values.sum())


def test_a_failing_child_or_no_fork_computes_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.ones(10)
    assert forked.start(fails_in_a_child, values)() == 10.0
    monkeypatch.setenv(forked.NO_FORK_ENV, "1")
    pid, total = forked.start(pid_and_sum, values)()
    assert pid == os.getpid() and total == 10.0


def test_compute_with_the_forked_accumulation_equals_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = load_dataset(COCO128)
    gt = load_ground_truth(dataset, "val")
    coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(0)
    results = perfect(coco, rng)[::2] + random_boxes(coco, rng, per_image=20)  # half the objects found, and noise
    runs = []
    for threshold in (0, 10**12):  # forked (when 2 CPUs), then in-process
        monkeypatch.setattr(evaluator_module, "PARALLEL_MIN_DETECTIONS", threshold)
        evaluator = Evaluator(gt)
        evaluator.update_results(results)
        runs.append(evaluator.compute())
    forked_run, local = runs
    np.testing.assert_array_equal(forked_run.precision, local.precision)
    np.testing.assert_array_equal(forked_run.recall, local.recall)
    assert forked_run.coco == local.coco and forked_run.coco["AP"] > 0
    for name, column in local.per_class.items():
        np.testing.assert_array_equal(forked_run.per_class[name], column)


def test_plots_drawn_in_a_child_equal_those_drawn_here(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from yoloxkit.evaluation import plots

    dataset = load_dataset(COCO128)
    coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(2)
    evaluator = Evaluator(load_ground_truth(dataset, "val"), resamples=0)
    evaluator.update_results(perfect(coco, rng)[::2] + random_boxes(coco, rng, per_image=5))
    result = evaluator.compute()
    for fork_classes, folder in ((0, "forked"), (10**9, "here")):
        monkeypatch.setattr(plots, "FORK_CLASSES", fork_classes)
        assert plots.write_plots(result, tmp_path / folder) == [tmp_path / folder / name for name in plots.PLOTS]
    for name in plots.PLOTS:
        assert (tmp_path / "forked" / name).read_bytes() == (tmp_path / "here" / name).read_bytes(), name
