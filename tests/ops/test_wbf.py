"""Weighted box fusion (ops/wbf.py): equal to the ensemble-boxes package on axis-aligned boxes, one
source unchanged, rotated fusion across the le90 wrap and across a flipped long side."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from yoloxkit.ops.wbf import weighted_boxes_fusion


def reference_wbf():
    """ensemble-boxes' WBF module, loaded from its file: the package's __init__ imports numba for
    other functions, which the test environment does not install (requirements/reference.txt)."""
    path = Path(sysconfig.get_paths()["purelib"]) / "ensemble_boxes" / "ensemble_boxes_wbf.py"
    if not path.is_file():
        pytest.skip("ensemble-boxes is not installed (requirements/reference.txt)")
    spec = importlib.util.spec_from_file_location("ensemble_boxes_wbf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.weighted_boxes_fusion


def random_sources(rng: np.random.Generator, sources: int) -> tuple[list, list, list]:
    """Jittered copies of shared objects (some missed per source) in [0, 1] coordinates."""
    centres = rng.uniform(0.05, 0.75, (int(rng.integers(0, 25)), 2))
    sizes = rng.uniform(0.02, 0.2, (len(centres), 2))
    boxes, scores, labels = [], [], []
    for _ in range(sources):
        seen = rng.random(len(centres)) < 0.8
        corner = centres[seen] + rng.normal(0, 0.01, (seen.sum(), 2))
        boxes.append(np.clip(np.concatenate([corner, corner + sizes[seen] * rng.uniform(0.9, 1.1, (seen.sum(), 2))], 1), 0, 1))
        scores.append(rng.uniform(0.05, 1.0, seen.sum()))
        labels.append(rng.integers(0, 3, seen.sum()))
    return boxes, scores, labels


@pytest.mark.parametrize("conf_type", ["avg", "max"])
def test_axis_aligned_fusion_equals_ensemble_boxes(conf_type: str) -> None:
    reference = reference_wbf()
    rng = np.random.default_rng(0)
    fused_any = False
    for trial in range(120):
        boxes, scores, labels = random_sources(rng, int(rng.integers(1, 5)))
        weights = list(rng.uniform(0.5, 2.0, len(boxes))) if trial % 2 else None
        expected = reference(boxes, scores, labels, weights=weights, iou_thr=0.55, skip_box_thr=0.1, conf_type=conf_type)
        got = weighted_boxes_fusion(boxes, scores, labels, weights=weights, iou_thr=0.55, skip_box_thr=0.1, conf_type=conf_type)
        assert len(got[0]) == len(expected[0])
        fused_any |= len(got[0]) < sum(len(s) for s in scores)
        order_e, order_g = np.lexsort((expected[0][:, 0], -expected[1])), np.lexsort((got[0][:, 0], -got[1]))
        np.testing.assert_allclose(got[0][order_g], expected[0][order_e], atol=1e-6)  # the package rounds to float32
        np.testing.assert_allclose(got[1][order_g], expected[1][order_e], atol=1e-6)
        np.testing.assert_array_equal(got[2][order_g], expected[2][order_e].astype(int))
    assert fused_any


def test_one_source_comes_back_unchanged_when_its_boxes_are_apart() -> None:
    boxes = np.array([[10, 10, 50, 50], [60, 10, 100, 50], [10, 10, 50, 50]], dtype=float)
    scores, labels = np.array([0.9, 0.5, 0.7]), np.array([0, 0, 1])
    got_boxes, got_scores, got_labels = weighted_boxes_fusion([boxes], [scores], [labels])
    np.testing.assert_array_equal(got_boxes, boxes[[0, 2, 1]])
    np.testing.assert_array_equal(got_scores, scores[[0, 2, 1]])
    np.testing.assert_array_equal(got_labels, labels[[0, 2, 1]])


def test_agreement_raises_the_score_and_averages_the_box() -> None:
    a = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=float)
    b = np.array([[1, 1, 11, 11]], dtype=float)
    boxes, scores, _ = weighted_boxes_fusion([a, b], [np.array([0.8, 0.8]), np.array([0.4])], [np.zeros(2), np.zeros(1)])
    # the shared object: score-weighted mean box, mean score; the other: found by one source of two
    np.testing.assert_allclose(boxes[0], [1 / 3, 1 / 3, 31 / 3, 31 / 3])
    np.testing.assert_allclose(scores, [0.6, 0.4])
    _, weighted, _ = weighted_boxes_fusion([a, b], [np.array([0.8, 0.8]), np.array([0.4])], [np.zeros(2), np.zeros(1)], weights=[3, 1])
    np.testing.assert_allclose(weighted, [(2.4 + 0.4) / 2 * 2 / 4, 2.4 / 4])


def test_rotated_boxes_at_plus_and_minus_89_degrees_fuse_near_90_not_0() -> None:
    near = np.deg2rad
    boxes, scores, _ = weighted_boxes_fusion(
        [np.array([[50, 50, 40, 10, near(89)]]), np.array([[50, 50, 40, 10, near(-89)]])], [np.array([0.9]), np.array([0.8])], [np.zeros(1), np.zeros(1)]
    )
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.85)
    angle = np.rad2deg(boxes[0, 4])
    assert min(abs(angle - 90), abs(angle + 90)) < 1.0
    assert -90 <= angle < 90 and boxes[0, 2] >= boxes[0, 3]


def test_rotated_fusion_follows_the_long_side_when_a_near_square_box_flips() -> None:
    """(40 x 38 at 10 degrees) and (38 x 40 at -80 degrees) are the same box: fused unchanged, not 45 degrees."""
    boxes, _, _ = weighted_boxes_fusion(
        [np.array([[50, 50, 40, 38, np.deg2rad(10)]]), np.array([[50, 50, 38, 40, np.deg2rad(-80)]])], [np.array([0.9]), np.array([0.8])], [np.zeros(1), np.zeros(1)]
    )
    np.testing.assert_allclose(boxes[0], [50, 50, 40, 38, np.deg2rad(10)], atol=1e-9)


def test_rotated_boxes_that_do_not_overlap_stay_apart() -> None:
    a = np.array([[50, 50, 40, 10, 0.0]])
    b = np.array([[50, 50, 40, 10, np.pi / 2 - 0.01]])  # a cross: IoU well below 0.55
    boxes, scores, _ = weighted_boxes_fusion([a, b], [np.array([0.9]), np.array([0.8])], [np.zeros(1), np.zeros(1)])
    assert len(boxes) == 2 and scores.tolist() == pytest.approx([0.45, 0.4])


def test_bad_arguments_are_refused() -> None:
    one = [np.zeros((1, 4))], [np.ones(1)], [np.zeros(1)]
    with pytest.raises(ValueError, match="conf_type"):
        weighted_boxes_fusion(*one, conf_type="median")
    with pytest.raises(ValueError, match="weights"):
        weighted_boxes_fusion(*one, weights=[1, 2])
    with pytest.raises(ValueError, match="source 0"):
        weighted_boxes_fusion([np.zeros((2, 4))], [np.ones(1)], [np.zeros(1)])
