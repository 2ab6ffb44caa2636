"""Per-class AP, P/R/F1, VOC AP, the confusion matrix, the error breakdown and the bootstrap on
scenes small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit.evaluation import Evaluator, GroundTruth, paired_bootstrap
from yoloxkit.evaluation.bootstrap import WeightedAP
from yoloxkit.evaluation.voc import voc_ap

from .helpers import det, scene

# One class, two objects; detections: hit (0.9), background (0.8), hit (0.7).
TWO_HITS = scene([(1, [0, 0, 100, 100]), (1, [300, 300, 400, 400])], names=("a",))
TWO_HITS_DETS = [
    det(1, 1, [0, 0, 100, 100], 0.9),
    det(1, 1, [600, 600, 700, 700], 0.8),
    det(1, 1, [300, 300, 400, 400], 0.7),
]


def _evaluate(dataset, results, conf=0.25) -> Evaluator:
    evaluator = Evaluator(GroundTruth.from_dataset(dataset, "val"), conf=conf)
    evaluator.update_results(results)
    return evaluator


def test_ap_by_hand() -> None:
    # recall 0.5, 0.5, 1; precision 1, 1/2, 2/3 -> envelope 1 up to recall 0.5 (51 of the 101
    # recall points), 2/3 above (50 points), at every IoU threshold.
    result = _evaluate(TWO_HITS, TWO_HITS_DETS).compute()
    expected = (51 + 50 * 2 / 3) / 101
    assert result.coco["AP"] == pytest.approx(expected, abs=1e-12)
    assert result.per_class["AP50"][0] == pytest.approx(expected, abs=1e-12)
    assert result.per_class["AR100"][0] == 1.0
    # VOC: all points = 0.5 * 1 + 0.5 * 2/3; 11-point = (6 * 1 + 5 * 2/3) / 11.
    assert result.per_class["VOC_AP50"][0] == pytest.approx(0.5 + 1 / 3, abs=1e-12)
    assert result.per_class["VOC_AP50_11pt"][0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)


def test_precision_recall_f1_by_hand() -> None:
    result = _evaluate(TWO_HITS, TWO_HITS_DETS, conf=0.75).compute()
    at = result.at_conf  # kept: the hit (0.9) and the background box (0.8)
    assert (at.tp, at.fp, at.fn, at.precision, at.recall, at.f1) == (1, 1, 1, 0.5, 0.5, 0.5)
    best = result.best  # F1 at 0.9: 2/3, at 0.8: 1/2, at 0.7: 0.8
    assert best.conf == 0.7 and (best.tp, best.fp, best.fn) == (2, 1, 0)
    assert best.f1 == pytest.approx(0.8) and best.precision == pytest.approx(2 / 3) and best.recall == 1.0
    f1_curve = result.curves["f1"][-1]
    assert f1_curve[690] == pytest.approx(0.8) and f1_curve[850] == pytest.approx(2 / 3)


def test_voc_ap_functions() -> None:
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(recall, precision) == pytest.approx(0.5 + 1 / 3)
    assert voc_ap(recall, precision, eleven_point=True) == pytest.approx((6 + 5 * 2 / 3) / 11)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_voc_ignores_difficult_objects_and_counts_duplicates() -> None:
    dataset = scene([(1, [0, 0, 100, 100]), (1, [300, 300, 400, 400])], names=("a",), difficult=[False, True])
    results = [det(1, 1, [0, 0, 100, 100], 0.9), det(1, 1, [2, 2, 100, 100], 0.8), det(1, 1, [300, 300, 400, 400], 0.7)]
    result = _evaluate(dataset, results).compute()
    # TP, duplicate FP, difficult (neither): recall 1, 1; precision 1, 1/2 -> AP 1.
    assert result.per_class["VOC_AP50"][0] == 1.0
    assert result.coco["AP50"] < 1.0  # COCO counts difficult objects like any other (as pycocotools)


def test_confusion_matrix_by_hand() -> None:
    a1, b1, a2 = [0, 0, 100, 100], [300, 0, 400, 100], [600, 0, 700, 100]
    dataset = scene([(1, a1), (2, b1), (1, a2)])
    results = [
        det(1, 1, a1, 0.9),
        det(1, 1, b1, 0.8),
        det(1, 2, [0, 600, 100, 700], 0.6),
        det(1, 2, [0, 800, 50, 850], 0.1),
    ]
    result = _evaluate(dataset, results, conf=0.5).compute()
    # rows: true a, b, background; columns: predicted a, b, background
    np.testing.assert_array_equal(result.confusion, [[1, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert result.confusion[:2, :2].trace() == result.at_conf.tp


def test_error_types_and_their_cost_by_hand() -> None:
    g1, g2, g3, g4 = [0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100], [0, 400, 100, 500]
    dataset = scene([(1, g1), (2, g2), (1, g3), (1, g4)])
    shifted = [460, 0, 560, 100]  # IoU 40/160 = 0.25 with g3
    results = [
        det(1, 1, g1, 0.9),  # TP
        det(1, 1, g1, 0.8),  # Dupe
        det(1, 1, g2, 0.7),  # Cls (class a on the b object)
        det(1, 1, shifted, 0.6),  # Loc
        det(1, 2, shifted, 0.5),  # Both (class b, badly placed on an a object)
        det(1, 1, [600, 600, 650, 650], 0.4),  # Bkg
    ]  # g4: Miss
    errors = _evaluate(dataset, results).compute().errors
    assert errors.counts == {"Cls": 1, "Loc": 1, "Both": 1, "Dupe": 1, "Bkg": 1, "Miss": 1}
    # Class a: 3 objects, detections TP, FP, FP, FP, FP -> AP50 34/101; class b: 0.
    base = (34 / 101 + 0) / 2
    assert errors.ap50 == pytest.approx(base)
    assert errors.delta_ap["Cls"] == pytest.approx((34 / 101 + 1) / 2 - base)  # b: TP then FP -> 1
    assert errors.delta_ap["Loc"] == pytest.approx((34 + 33 * 0.5) / 101 / 2 - base)  # a: TP FP FP TP FP
    assert errors.delta_ap["Miss"] == pytest.approx(51 / 101 / 2 - base)  # a: 2 objects left
    assert errors.delta_ap["Dupe"] == errors.delta_ap["Bkg"] == errors.delta_ap["Both"] == 0.0


def test_worst_images_are_ranked_by_errors() -> None:
    dataset = scene([(1, [0, 0, 100, 100]), (1, [300, 300, 400, 400])], names=("a",), images=3)
    results = [det(1, 1, [0, 0, 100, 100], 0.9), det(2, 1, [0, 0, 10, 10], 0.9), det(2, 1, [50, 50, 60, 60], 0.9)]
    worst = _evaluate(dataset, results).compute().worst_images
    assert [(w["image_id"], w["tp"], w["fp"], w["fn"]) for w in worst] == [(2, 0, 2, 0), (1, 1, 0, 1)]


def test_bootstrap_weights_equal_repeating_images() -> None:
    """AP with image 1 weighted 2 == AP of the split with image 1 duplicated."""
    objects = [(1, [0, 0, 100, 100]), (2, [300, 300, 400, 400]), (1, [500, 0, 620, 90])]
    rng = np.random.default_rng(0)
    results = [det(i, int(rng.integers(1, 3)), list(np.r_[xy, xy + 100]), float(rng.random()))
               for i in (1, 2) for xy in rng.random((15, 2)) * 500]  # fmt: skip
    results += [det(i, c, box, float(rng.random())) for i in (1, 2) for c, box in objects]
    two = scene(objects, images=2)
    two.splits["val"].images[1].annotations = two.splits["val"].images[0].annotations
    three = scene(objects, images=3)
    for image in three.splits["val"].images[1:]:
        image.annotations = three.splits["val"].images[0].annotations
    copies = [dict(r, image_id=3) for r in results if r["image_id"] == 1]
    evaluator = _evaluate(two, results)
    weighted = WeightedAP(evaluator.matches(), evaluator.gt)(np.array([2.0, 1.0]))
    assert weighted == pytest.approx(_evaluate(three, results + copies).coco()["AP"], abs=1e-12)
    assert WeightedAP(evaluator.matches(), evaluator.gt)(np.ones(2)) == evaluator.coco()["AP"]


def test_bootstrap_of_identical_predictions_is_zero() -> None:
    evaluator = _evaluate(TWO_HITS, TWO_HITS_DETS)
    boot = paired_bootstrap(evaluator.matches(), evaluator.matches(), evaluator.gt, samples=50)
    assert (boot.delta, boot.low, boot.high, boot.share_not_better) == (0.0, 0.0, 0.0, 1.0)
    assert boot.ap_a == evaluator.coco()["AP"]
