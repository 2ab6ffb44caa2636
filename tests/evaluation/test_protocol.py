"""One evaluator protocol for both box types: the COCO Evaluator and the DOTA evaluator answer the
same calls, and the DOTA evaluator fed through ``update`` gives the devkit's numbers (checked
against the statement-by-statement devkit of tests/dota/test_dota_metric.py), forgets on ``reset``
and leaves dropped images out entirely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.dota.test_dota_metric import devkit_ap, rect
from yoloxkit.evaluation import Evaluator
from yoloxkit.evaluation.dota import DotaGroundTruth
from yoloxkit.evaluation.dota_evaluator import DotaEvaluator
from yoloxkit.datasets.synth import synthesize
from yoloxkit.evaluation.groundtruth import load_ground_truth
from yoloxkit.evaluation.protocol import SplitEvaluator
from yoloxkit.structures import Boxes, Detections

CLASSES = ["plane", "ship"]


def scene(seed: int = 0) -> tuple[dict, DotaGroundTruth, list[list[Detections]]]:
    """Three images of planes and ships (one difficult), and per image the detections: shifted,
    rotated and false copies with tied two-decimal scores."""
    rng = np.random.default_rng(seed)
    gt_rows: dict[str, list] = {}
    detections = []
    for image in range(3):
        objects = []
        for k in range(4):
            cx, cy, w, h, a = rng.uniform(60, 440), rng.uniform(60, 440), rng.uniform(20, 60), rng.uniform(8, 20), rng.uniform(-1.5, 1.5)
            objects.append((cx, cy, w, h, a, CLASSES[k % 2], int(image == 1 and k == 0)))
        gt_rows[str(image)] = [(rect(*o[:5]), o[5], o[6]) for o in objects]
        boxes, scores, classes = [], [], []
        for cx, cy, w, h, a, name, _ in objects:
            for shift, turn in ((0, 0), (rng.uniform(-6, 6), rng.uniform(-0.3, 0.3)), (200, 0)):
                boxes.append([cx + shift, cy, w, h, a + turn])
                scores.append(round(float(rng.choice([0.3, 0.5, 0.9])), 2))
                classes.append(CLASSES.index(name))
        detections.append(Detections(Boxes(np.array(boxes), "rbox"), np.array(scores, np.float32), np.array(classes), CLASSES, (500, 500)))
    quads = [(int(i), q, CLASSES.index(c), bool(d)) for i, rows in gt_rows.items() for q, c, d in rows]
    gt = DotaGroundTruth(
        list(CLASSES), [str(i) for i in range(3)], np.array([r[0] for r in quads]), np.array([r[1] for r in quads], float),
        np.array([r[2] for r in quads]), np.array([r[3] for r in quads]),
    )  # fmt: skip
    return gt_rows, gt, detections


def devkit_rows(detections: list[Detections], images: list[int], cls: int) -> list[tuple[str, float, list[float]]]:
    """Task1 rows of class ``cls`` in the order the images were added (scores as float64 of float32)."""
    rows = []
    for image in images:
        det = detections[image]
        quads = det.boxes.convert("qbox").data
        rows += [(str(image), float(s), q.tolist()) for q, s, c in zip(quads, det.scores, det.class_ids) if c == cls]
    return rows


def test_both_evaluators_implement_the_protocol(tmp_path: Path) -> None:
    _, gt, _ = scene()
    dota = DotaEvaluator(gt, [Path(f"{i}.png") for i in range(3)])
    coco = Evaluator(load_ground_truth(synthesize(tmp_path, 8, 2, size=(64, 64), val_fraction=0.5), "val"))
    for evaluator in (dota, coco):
        assert isinstance(evaluator, SplitEvaluator)
        assert set(evaluator.scores()) == {"mAP50_95", "mAP50", "mAP75"}
        assert len(evaluator.image_ids(range(2))) == 2
    assert all(path.is_file() for path in coco.image_paths()) and len(coco.image_paths()) == coco.gt.num_images
    assert coco.image_ids([1, 0]) == coco.gt.image_ids[[1, 0]].tolist() and dota.image_ids([2]) == [2]


def test_dota_evaluator_equals_the_devkit_and_resets() -> None:
    gt_rows, gt, detections = scene()
    evaluator = DotaEvaluator(gt, [Path(f"{i}.png") for i in range(3)])
    evaluator.update([0, 1], detections[:2])
    evaluator.update([2], detections[2:])
    result = evaluator.compute()
    for k, name in enumerate(CLASSES):
        for t, threshold in enumerate(result.thresholds):
            assert result.ap[t, k] == pytest.approx(devkit_ap(gt_rows, devkit_rows(detections, [0, 1, 2], k), name, threshold), abs=1e-12)
    scores = evaluator.scores(per_class=True)
    assert 0.3 < scores["mAP50"] < 1 and scores["mAP50"] == result.metrics()["AP50"]
    assert scores["AP50_95/ship"] == pytest.approx(result.ap[:, 1].mean())
    evaluator.reset()
    assert evaluator.scores()["mAP50"] == 0.0 and sum(len(d.images) for d in evaluator.task1().values()) == 0


def test_dota_evaluator_drops_an_image_with_its_objects_and_detections() -> None:
    gt_rows, gt, detections = scene(1)
    evaluator = DotaEvaluator(gt, [Path(f"{i}.png") for i in range(3)])
    evaluator.update([0, 1, 2], detections)
    evaluator.drop_images([1])
    result = evaluator.compute()
    kept = {image: rows if image != "1" else [] for image, rows in gt_rows.items()}
    for k, name in enumerate(CLASSES):
        assert result.ap[0, k] == pytest.approx(devkit_ap(kept, devkit_rows(detections, [0, 2], k), name, 0.5), abs=1e-12)
    assert "1" not in {image for d in evaluator.task1().values() for image in d.images}
