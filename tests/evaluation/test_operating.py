"""Per-class operating thresholds equal a brute-force search over every candidate threshold, for
each criterion, and agree with the P/R/F1 counts of prf.operating_point at the chosen values."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.datasets.load import load_dataset
from yoloxkit.errors import YoloxkitError
from yoloxkit.evaluation import Evaluator, load_ground_truth
from yoloxkit.evaluation.operating import operating_thresholds, parse_criterion
from yoloxkit.evaluation.prf import operating_point

from .helpers import COCO128, perfect, random_boxes


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    """COCO128 val: half the objects found with random scores (two decimals: ties), plus noise boxes."""
    dataset = load_dataset(COCO128)
    coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(1)
    results = perfect(coco, rng)[::2] + random_boxes(coco, rng, per_image=6)
    for r in results:
        r["score"] = round(r["score"], 2)
    evaluator = Evaluator(load_ground_truth(dataset, "val"))
    evaluator.update_results(results)
    return evaluator


def brute_force(evaluator: Evaluator, k: int, criterion: str, target: float | None, t: int = 0) -> float | None:
    m = evaluator.matches()
    counted = ~m.ignored[0, t]
    hit = counted & (m.gt_index[0, t] >= 0)
    mine = counted & (m.dets.category == k)
    objects = int(((m.gt_category == k) & ~m.gt_ignored[0]).sum())
    best = None
    if objects == 0:
        return None
    for conf in sorted(set(m.dets.score[mine].tolist()), reverse=True):  # high to low
        kept = mine & (m.dets.score >= conf)
        tp, n = int((kept & hit).sum()), int(kept.sum())
        p, r, f1 = tp / n, tp / objects, 2 * tp / (n + objects)
        if criterion == "f1" and (best is None or f1 > best[1]):
            best = (conf, f1)
        if criterion == "precision" and p >= target:
            best = (conf, p)  # keeps going lower: the last one reaching it
        if criterion == "recall" and r >= target and best is None:
            best = (conf, r)  # the first (highest) one reaching it
    return None if best is None or objects == 0 else best[0]


@pytest.mark.parametrize("spec", ["f1", "precision=0.6", "recall=0.3"])
def test_thresholds_equal_a_brute_force_search(evaluator: Evaluator, spec: str) -> None:
    criterion, target = parse_criterion(spec)
    result = operating_thresholds(evaluator.gt, evaluator.matches(), criterion, target, resamples=0)
    found = 0
    for k, c in enumerate(result.classes):
        assert c.conf == brute_force(evaluator, k, criterion, target), c.name
        found += c.conf is not None
    assert found >= 10 and result.iou == 0.5


def test_counts_agree_with_the_operating_point_at_each_threshold(evaluator: Evaluator) -> None:
    m = evaluator.matches()
    result = operating_thresholds(evaluator.gt, m, "f1", resamples=0)
    counted, tp = ~m.ignored[0, 0], ~m.ignored[0, 0] & (m.gt_index[0, 0] >= 0)
    positives = m.positives(evaluator.gt.num_classes)[0]
    for k, c in enumerate(result.classes):
        if c.conf is None:
            continue
        point = operating_point(c.conf, m.dets.score, m.dets.category, tp, counted, positives)
        assert (c.tp, c.fp, c.fn) == tuple(int(point.per_class[key][k]) for key in ("tp", "fp", "fn"))
        assert c.f1 == pytest.approx(point.per_class["f1"][k])


def test_bootstrap_interval_brackets_the_threshold_and_other_ious(evaluator: Evaluator) -> None:
    result = operating_thresholds(evaluator.gt, evaluator.matches(), "f1", resamples=60, seed=3)
    with_interval = [c for c in result.classes if c.interval is not None]
    assert len(with_interval) >= 10
    assert all(c.interval[0] <= c.interval[1] for c in with_interval)
    inside = sum(c.interval[0] <= c.conf <= c.interval[1] for c in with_interval)
    assert inside >= 0.8 * len(with_interval)
    assert sum(c.interval[1] > c.interval[0] for c in with_interval) >= 0.5 * len(with_interval)  # resampling varies it
    strict = operating_thresholds(evaluator.gt, evaluator.matches(), "f1", iou=0.75, resamples=0)
    assert strict.iou == 0.75 and sum(c.tp for c in strict.classes) <= sum(c.tp for c in result.classes)
    data = result.to_dict()
    assert data["thresholds"] == result.by_class() and len(data["classes"]) == evaluator.gt.num_classes


@pytest.mark.parametrize("bad", ["f2", "precision", "precision=1.5", "recall=0", "f1=0.3", "precision=x"])
def test_bad_criteria_are_one_line_errors(bad: str) -> None:
    with pytest.raises(YoloxkitError, match="--operating"):
        parse_criterion(bad)


def test_a_resample_without_a_detections_image_offers_no_threshold_there() -> None:
    """In a resample, a detection whose image was not drawn (weight 0) is no candidate threshold."""
    from yoloxkit.evaluation.operating import _choose

    ends, hits = np.array([0, 1, 2]), np.array([1.0, 0.0, 1.0])
    assert _choose(ends, hits, np.ones(3), 1.0, "precision", 1.0) == 0
    assert _choose(ends, hits, np.array([0.0, 1.0, 1.0]), 1.0, "precision", 1.0) is None
    assert _choose(ends, hits, np.array([0.0, 1.0, 1.0]), 1.0, "f1", None) == 2


def test_a_first_class_without_detections_gets_no_threshold_and_the_others_theirs() -> None:
    """Class 0 with objects but no detection (a weak model): found as a crash in eval when the first
    class's run of detections was empty; the other classes keep the thresholds of a brute-force search."""
    dataset = load_dataset(COCO128)
    coco, rng = to_coco_dict(dataset, dataset.splits["val"]), np.random.default_rng(2)
    first = min(c["id"] for c in coco["categories"])
    results = [r for r in perfect(coco, rng) + random_boxes(coco, rng, per_image=6) if r["category_id"] != first]
    evaluator = Evaluator(load_ground_truth(dataset, "val"))
    evaluator.update_results(results)
    found = operating_thresholds(evaluator.gt, evaluator.matches())
    assert found.classes[0].conf is None
    for k in (1, 2, 3):
        assert found.classes[k].conf == brute_force(evaluator, k, "f1", None)
