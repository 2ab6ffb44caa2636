"""The 12 COCO numbers, and pycocotools' whole precision/recall arrays, are identical to pycocotools.

Ground truth: COCO128 (YOLO txt), BCCD (Pascal VOC) and a COCO JSON made from COCO128 with crowd
regions, segmentation-like areas and image ids from 0. Predictions: perfect, empty, random,
perturbed ground truth (relabelled, tied scores) and crowded (over 100 per image and class).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from yoloxkit.datasets import Dataset, load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.evaluation import Evaluator, GroundTruth, resolve_split
from yoloxkit.evaluation.cocometrics import accumulate
from yoloxkit.structures import Boxes, BoxFormat, Detections

from .helpers import BCCD, COCO128, PREDICTION_SETS, pycocotools_eval


def _coco_json_variant(folder: Path) -> Path:
    """COCO128 as a COCO JSON file: image ids from 0, every 7th object a crowd region, areas 0.6 x box
    area (as segmentation areas are), boxes on quarter pixels (so that x + w - x == w exactly)."""
    source = load_dataset(COCO128)
    data = to_coco_dict(source, resolve_split(source, "val"))
    for image in data["images"]:
        image["id"] -= 1
    for i, ann in enumerate(data["annotations"]):
        ann["image_id"] -= 1
        ann["bbox"] = [round(v * 4) / 4 for v in ann["bbox"]]
        ann["area"] = 0.6 * ann["bbox"][2] * ann["bbox"][3]
        ann["iscrowd"] = int(i % 7 == 3)
    path = folder / "instances_val.json"
    path.write_text(json.dumps(data))
    return path


@functools.cache
def _ground_truth(name: str, folder: str) -> tuple[Dataset, dict]:
    """(dataset, COCO dict pycocotools reads) for each ground truth."""
    if name == "coco-json":
        path = _coco_json_variant(Path(folder))
        return load_dataset(path), json.loads(path.read_text())
    dataset = load_dataset({"coco128": COCO128, "bccd": BCCD}[name])
    return dataset, to_coco_dict(dataset, resolve_split(dataset, "val"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("coco-json"))


@pytest.mark.parametrize("predictions", sorted(PREDICTION_SETS))
@pytest.mark.parametrize("name", ["coco128", "bccd", "coco-json"])
def test_identical_to_pycocotools(name: str, predictions: str, folder: str) -> None:
    dataset, gt_dict = _ground_truth(name, folder)
    results = PREDICTION_SETS[predictions](gt_dict, np.random.default_rng(len(name) * 10 + len(predictions)))
    reference = pycocotools_eval(gt_dict, results)
    evaluator = Evaluator(GroundTruth.from_dataset(dataset, "val"))
    evaluator.update_results(results)
    ours = evaluator.coco()
    assert list(ours) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    np.testing.assert_allclose(list(ours.values()), reference.stats, rtol=0, atol=1e-6)
    precision, recall = accumulate(evaluator.matches(), len(gt_dict["categories"]))
    np.testing.assert_array_equal(precision, reference.eval["precision"])  # bit for bit, not only to 1e-6
    np.testing.assert_array_equal(recall, reference.eval["recall"])


def test_crowd_regions_and_file_areas_are_used(folder: str) -> None:
    dataset, gt_dict = _ground_truth("coco-json", folder)
    gt = GroundTruth.from_dataset(dataset, "val")
    assert gt.crowd.sum() == sum(a["iscrowd"] for a in gt_dict["annotations"]) > 0
    np.testing.assert_array_equal(np.sort(gt.area), np.sort([a["area"] for a in gt_dict["annotations"]]))
    assert gt.image_ids[0] == 0


def test_detections_give_the_numbers_of_their_coco_results() -> None:
    """update() with Detections == update_results() with what Detections.to_coco writes."""
    dataset, gt_dict = _ground_truth("bccd", "")
    gt = GroundTruth.from_dataset(dataset, "val")
    rng = np.random.default_rng(3)
    ids, detections, results = [], [], []
    for image_id in gt.image_ids.tolist():
        n = 12
        xy = rng.random((n, 2)) * 500
        boxes = np.hstack([xy, xy + 20 + rng.random((n, 2)) * 100]).astype(np.float32)
        det = Detections(
            Boxes(boxes, BoxFormat.XYXY), rng.random(n).astype(np.float32), rng.integers(0, 3, n), gt.names, (480, 640)
        )
        ids.append(image_id)
        detections.append(det)
        results += det.to_coco(image_id, gt.category_ids.tolist())
    a, b = Evaluator(gt), Evaluator(gt)
    a.update(ids[:30], detections[:30])
    a.update(ids[30:], detections[30:])
    b.update_results(json.loads(json.dumps(results)))
    assert a.coco() == b.coco() == dict(zip(a.coco(), pycocotools_eval(gt_dict, results).stats.tolist()))
    a.reset()
    assert a.coco()["AP"] == 0.0
