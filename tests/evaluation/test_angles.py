"""Angle errors of oriented detections (yoloxkit.evaluation.angles): symmetries, matching, bins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yoloxkit.dota.task1 import Task1Detections
from yoloxkit.evaluation.angles import AngleErrors, angle_difference, angle_errors, long_side_angle
from yoloxkit.evaluation.dota import DotaGroundTruth
from yoloxkit.structures.boxes import BoxFormat, convert

DEG = math.pi / 180


def quads(rboxes: list[list[float]]) -> np.ndarray:
    return convert(np.array(rboxes, dtype=np.float64).reshape(-1, 5), BoxFormat.RBOX, BoxFormat.QBOX)


def ground_truth(rboxes: list[list[float]], images: list[int], classes: list[int] | None = None,
                 difficult: list[bool] | None = None) -> DotaGroundTruth:  # fmt: skip
    n = len(rboxes)
    return DotaGroundTruth(
        ["a", "b"], ["0", "1"], np.array(images, dtype=np.int64), quads(rboxes),
        np.array(classes or [0] * n, dtype=np.int64), np.array(difficult or [False] * n, dtype=bool),
    )  # fmt: skip


def detections(rboxes: list[list[float]], images: list[str], scores: list[float]) -> Task1Detections:
    return Task1Detections(images, np.array(scores, dtype=np.float64), quads(rboxes))


def test_long_side_angle_is_the_same_for_every_form_of_one_rectangle():
    forms = [[0, 0, 40, 10, 0.3], [0, 0, 10, 40, 0.3 - math.pi / 2], [0, 0, 40, 10, 0.3 + math.pi], [0, 0, 10, 40, 0.3 + math.pi / 2]]
    assert long_side_angle(np.array(forms)) == pytest.approx([0.3] * 4, abs=1e-12)
    assert long_side_angle(np.array([[0, 0, 40, 10, math.pi / 2]]))[0] == pytest.approx(-math.pi / 2)  # le90: [-pi/2, pi/2)


def test_angle_difference_wraps_at_the_period():
    assert angle_difference(89 * DEG, -89 * DEG) == pytest.approx(2 * DEG)  # across the +-90 wrap
    assert angle_difference(10 * DEG, 100 * DEG) == pytest.approx(90 * DEG)  # the largest error mod pi
    assert angle_difference(10 * DEG, 100 * DEG, math.pi / 2) == pytest.approx(0.0, abs=1e-12)  # a square's symmetry
    assert angle_difference(np.array([0.0, 1.0]), np.array([0.5, 1.0])) == pytest.approx([0.5, 0.0])


def test_match_takes_the_best_scoring_detection_above_the_iou_threshold():
    gt = ground_truth([[50, 50, 40, 10, 88 * DEG]], [0])
    det = detections(
        [[50, 50, 40, 10, -88 * DEG],  # 4 deg off across the wrap, lower score
         [50, 50, 10, 40, 88 * DEG - math.pi / 2 + 2 * DEG],  # same rectangle written with w < h, 2 deg off: best score
         [90, 90, 40, 10, 88 * DEG]],  # higher score but no overlap
        ["0", "0", "0"], [0.5, 0.8, 0.9],
    )  # fmt: skip
    result = angle_errors(gt, {"a": det})
    assert result.missed == 0 and len(result.error) == 1
    assert np.degrees(result.error[0]) == pytest.approx(2.0, abs=1e-3)
    assert np.degrees(result.angle[0]) == pytest.approx(88.0, abs=1e-3)
    assert result.iou[0] > 0.5 and not result.near_square[0]


def test_objects_are_matched_within_their_image_and_class_and_difficult_ones_skipped():
    box = [50, 50, 40, 10, 0.2]
    gt = ground_truth([box, box, box, box], images=[0, 1, 0, 0], classes=[0, 0, 1, 0], difficult=[False, False, False, True])
    found = angle_errors(gt, {"a": detections([box], ["1"], [0.9])})  # only image 1 of class a has a detection
    assert len(found.error) == 1 and found.missed == 2  # image 0 class a, image 0 class b; the difficult one not counted
    assert angle_errors(gt, {}).missed == 3


def test_a_turned_box_below_the_iou_threshold_is_missed():
    gt = ground_truth([[50, 50, 60, 6, 0.0]], [0])
    result = angle_errors(gt, {"a": detections([[50, 50, 60, 6, 30 * DEG]], ["0"], [0.9])})
    assert result.missed == 1 and len(result.error) == 0
    assert math.isnan(result.percentile(50))


def test_near_squares_are_compared_modulo_a_quarter_turn_and_flagged():
    gt = ground_truth([[50, 50, 30, 28, 10 * DEG]], [0])
    result = angle_errors(gt, {"a": detections([[50, 50, 29, 29, 97 * DEG]], ["0"], [0.9])})
    assert result.near_square[0] and np.degrees(result.error[0]) == pytest.approx(3.0, abs=1e-3)
    assert len(result.elongated().error) == 0


def test_per_bin_statistics_and_summary():
    angles = np.radians([-89.0, -85.0, 0.0, 5.0, 85.0, 90.0 - 1e-9])
    errors = np.radians([1.0, 3.0, 2.0, 4.0, 0.5, 0.5])
    result = AngleErrors(angles, errors, np.ones(6), np.zeros(6, bool), missed=1)
    bins = {(b.low, b.high): b for b in result.per_bin()}
    assert bins[(-90.0, -80.0)].count == 2 and bins[(-90.0, -80.0)].median == pytest.approx(2.0)
    assert bins[(-10.0, 10.0)].max == pytest.approx(4.0)
    assert bins[(80.0, 90.0)].count == 2
    assert bins[(10.0, 45.0)].count == 0 and math.isnan(bins[(10.0, 45.0)].median)
    assert sum(b.count for b in bins.values()) == 6
    text = result.summary()
    assert "[ -90,  -80)" in text and "[ +80,  +90]" in text and "6 matched" in text and "1 objects missed" in text
    as_json = result.to_dict()
    assert (as_json["matched"], as_json["missed"], as_json["near_square"]) == (6, 1, 0)
    assert as_json["median_deg"] == pytest.approx(1.5) and len(as_json["bins"]) == 7
    assert as_json["bins"][0] == {"low": -90.0, "high": -80.0, "objects": 2, "median_deg": 2.0, "p90_deg": 2.8, "max_deg": 3.0}
    assert as_json["bins"][4]["median_deg"] is None  # empty bin: null, not NaN
