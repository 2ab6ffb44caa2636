"""Edge cases: images and categories without objects, empty predictions, crowd regions, unknown
images or categories, malformed results, oriented datasets, split names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yoloxkit.datasets import load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.errors import YoloxkitError
from yoloxkit.evaluation import Evaluator, GroundTruth, evaluate_predictions, read_results, resolve_split

from .helpers import BCCD, SHARED, det, pycocotools_eval, scene

BOX = [0, 0, 100, 100]


def _both(dataset, results) -> tuple[dict, np.ndarray]:
    """Our 12 numbers and pycocotools' stats for the same scene."""
    evaluator = Evaluator(GroundTruth.from_dataset(dataset, "val"))
    evaluator.update_results(results)
    return evaluator.coco(), pycocotools_eval(to_coco_dict(dataset, dataset.splits["val"]), results).stats


def test_detections_on_images_without_objects_are_false_positives() -> None:
    dataset = scene([(1, BOX)], names=("a",), images=3)
    hit = det(1, 1, BOX, 0.5)
    ours, reference = _both(dataset, [hit, det(3, 1, BOX, 0.9)])
    assert list(ours.values()) == reference.tolist()
    assert ours["AP"] == pytest.approx(0.5) and _both(dataset, [hit])[0]["AP"] == pytest.approx(
        1.0
    )  # 1 / (1 + eps), as pycocotools


def test_categories_without_objects_are_left_out_of_the_means() -> None:
    dataset = scene([(1, BOX)])  # classes a and b; only a has an object
    results = [det(1, 1, BOX, 0.9), det(1, 2, [500, 500, 600, 600], 0.8)]
    ours, reference = _both(dataset, results)
    assert list(ours.values()) == reference.tolist() and ours["AP"] == pytest.approx(1.0)
    result = evaluate_predictions(results, dataset)
    row_b = result.class_rows()[1]
    assert row_b["AP"] is None and row_b["instances"] == 0 and row_b["FP_conf"] == 1
    assert json.loads(json.dumps(result.to_dict()))["per_class"][1]["AR100"] is None


def test_empty_predictions_give_zeros_not_a_crash() -> None:
    result = evaluate_predictions([], scene([(1, BOX)]))
    assert result.coco["AP"] == result.coco["AR100"] == result.coco["APl"] == 0.0  # 100 x 100 > 96**2: large
    assert result.coco["APs"] == result.coco["APm"] == -1.0  # no small or medium objects, as pycocotools says
    assert result.best.conf is None and result.at_conf.f1 == 0.0 and result.errors.counts["Miss"] == 1
    assert result.to_dict()["worst_images"][0]["fn"] == 1


def test_no_objects_at_all_gives_pycocotools_minus_one() -> None:
    dataset = scene([], images=2)
    ours, reference = _both(dataset, [det(1, 1, BOX, 0.5)])
    assert list(ours.values()) == reference.tolist() == [-1.0] * 12
    assert evaluate_predictions([], dataset).to_dict()["voc"] == {"mAP50_11pt": None, "mAP50": None}


def test_crowd_regions_are_handled_as_coco_does() -> None:
    crowd = [300, 300, 600, 600]
    dataset = scene([(1, BOX), (1, crowd)], names=("a",), crowd=[False, True])
    inside = det(1, 1, [320, 320, 380, 380], 0.95)  # IoU with the crowd box is small, but it lies inside
    results = [inside, det(1, 1, [350, 350, 420, 420], 0.9), det(1, 1, BOX, 0.8)]
    ours, reference = _both(dataset, results)
    assert list(ours.values()) == reference.tolist()
    assert ours["AP"] == pytest.approx(1.0)  # detections in the crowd region are ignored, not false positives
    result = evaluate_predictions(results, dataset)
    assert (result.at_conf.tp, result.at_conf.fp, result.at_conf.fn) == (1, 0, 0)
    assert result.confusion.sum() == 1 and result.errors.counts["Miss"] == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (det(9, 1, BOX, 0.5), "image ids not in the evaluated split (e.g. 9)"),
        (det(1, 7, BOX, 0.5), "category ids not among the dataset's category ids 1..2"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 10]}, "predictions[0]: each entry needs"),
        ({"image_id": "1", "category_id": 1, "bbox": BOX, "score": 0.5}, "integer image_id"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, -5, 10], "score": 0.5}, "w >= 0"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 10], "score": float("nan")}, "finite score"),
    ],
)
def test_bad_predictions_are_clear_errors(entry: dict, message: str) -> None:
    with pytest.raises(YoloxkitError) as error:
        Evaluator(GroundTruth.from_dataset(scene([(1, BOX)]), "val")).update_results([entry])
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"), [("{", "invalid JSON"), ('{"a": 1}', "expected a COCO results list"), ("", "expected")]
)
def test_unreadable_results_files(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "preds.json"
    path.write_text(text)
    with pytest.raises(YoloxkitError, match=message):
        read_results(path)
    with pytest.raises(YoloxkitError, match="not found"):
        read_results(tmp_path / "missing.json")


def test_oriented_datasets_are_refused() -> None:
    with pytest.raises(YoloxkitError, match="oriented"):
        GroundTruth.from_dataset(load_dataset(SHARED / "dota_sample"), "val")


def test_split_names() -> None:
    bccd = load_dataset(BCCD)
    assert resolve_split(bccd, "test").name == "test"
    with pytest.raises(YoloxkitError, match="no split 'valid'; it has test, train, val"):
        resolve_split(bccd, "valid")
    single = scene([(1, BOX)])
    assert resolve_split(single, "anything").name == "val"


def test_duplicate_image_ids_are_numbered_as_the_coco_writer_does() -> None:
    dataset = scene([(1, BOX)], images=3)
    for image in dataset.splits["val"].images:
        image.id = 0
    gt = GroundTruth.from_dataset(dataset, "val")
    assert gt.image_ids.tolist() == [1, 2, 3]
    assert [i["id"] for i in to_coco_dict(dataset, dataset.splits["val"])["images"]] == [1, 2, 3]
