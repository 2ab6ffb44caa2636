"""Model classes matched to dataset categories by name (issue 14): a COCO model fine-tuned with appended
classes is evaluated and compared on a dataset holding only some of them."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit import Detector, YoloxkitError
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.evaluation import Evaluator, evaluate
from yoloxkit.evaluation.classes import match_classes
from yoloxkit.structures import Boxes, Detections
from tests.cli_helpers import yolo_dataset

APPENDED = [*COCO_CLASSES, "cell_a", "cell_b"]


def test_identity_generic_and_named_matches():
    assert match_classes(["a", "b"], ["a", "b"]).identity
    generic = match_classes(["class_0", "class_1"], ["cat", "dog"])
    assert generic.identity and generic.notes == []
    other = match_classes(["x", "y"], ["cat", "dog"])  # no name in common, same count: by index, said
    assert other.identity and "pair by index" in other.notes[0]
    appended = match_classes(APPENDED, ["cell_a", "person", "cell_b"])
    assert appended.to_dataset[80] == 0 and appended.to_dataset[0] == 1 and appended.to_dataset[81] == 2
    assert (appended.to_dataset[1:80] == -1).all()
    assert "79 model classes the dataset does not have are left out" in appended.notes[0]
    missing = match_classes(["cell_a"], ["cell_a", "cell_c"])
    assert "1 dataset categories the model does not predict score AP 0: cell_c" in missing.notes[0]
    with pytest.raises(YoloxkitError, match="no class name in common"):
        match_classes(COCO_CLASSES, ["cell_a", "cell_b"])


def test_detections_are_mapped_and_foreign_classes_dropped():
    mapping = match_classes(APPENDED, ["cell_a", "person", "cell_b"])
    det = Detections(Boxes(np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]], np.float32)), np.array([0.9, 0.8, 0.7], np.float32),
                     np.array([80, 2, 0]), APPENDED, (32, 32))  # fmt: skip
    (mapped,) = mapping.apply([det])
    assert mapped.class_ids.tolist() == [0, 1] and mapped.labels == ["cell_a", "person"]  # 'car' (2) is not in the dataset
    assert mapped.scores.tolist() == pytest.approx([0.9, 0.7])


def test_an_appended_model_is_evaluated_on_a_dataset_of_some_of_its_classes(tmp_path):
    data = yolo_dataset(tmp_path / "ds", images=2)
    (data / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [cell_b]\n")
    detector = Detector.untrained("yolox-nano", num_classes=82)
    detector.class_names = APPENDED
    result = evaluate(detector, data / "data.yaml", "val", conf=0.0, iou=0.65)
    assert result.gt.names == ["cell_b"]
    assert any("81 model classes the dataset does not have are left out" in w for w in result.settings["warnings"])
    assert result.detections.category.max(initial=0) == 0  # only cell_b's detections were counted
