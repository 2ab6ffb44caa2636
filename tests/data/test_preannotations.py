"""``predict --save-txt`` output read back by the YOLO reader as pre-annotations (issue 18 §5):
lines ending with a confidence are labels to review, the confidence dropped, said once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tests.cli_helpers import run_cli
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.datasets import Report, load_dataset
from yoloxkit.structures import BoxFormat


def test_predictions_round_trip_as_labels(tmp_path: Path, capfd, nano_checkpoint: Path, coco_images: list[Path]) -> None:
    images = tmp_path / "ds" / "images" / "train"
    images.mkdir(parents=True)
    for image in coco_images[:3]:
        shutil.copy(image, images / image.name)
    done = run_cli(capfd, "predict", images, "-w", nano_checkpoint, "--out", tmp_path / "pred", "--save-txt", "--no-draw", "--conf", "0.3")
    assert done.code == 0, done.err
    shutil.copytree(tmp_path / "pred" / "labels", tmp_path / "ds" / "labels" / "train")
    (tmp_path / "ds" / "data.yaml").write_text(json.dumps({"path": ".", "train": "images/train", "names": list(COCO_CLASSES)}))
    report = Report()
    dataset = load_dataset(tmp_path / "ds" / "data.yaml", report)
    assert not report.errors and [w.kind for w in report.warnings] == ["predicted-labels"]
    predicted = {Path(r["file"]).name: r for r in json.loads((tmp_path / "pred" / "predictions.json").read_text())}
    total = 0
    for image in dataset.splits["train"].images:
        record = predicted[Path(image.file_name).name]
        boxes = image.annotations.boxes.convert(BoxFormat.XYXY).data
        expected = np.array([d["box"] for d in record["detections"]], dtype=np.float64).reshape(-1, 4)
        np.testing.assert_allclose(boxes, expected, atol=0.05)  # normalised to 6 digits and back
        assert [COCO_CLASSES[c - 1] for c in image.annotations.category_ids] == [d["class_name"] for d in record["detections"]]
        total += len(boxes)
    assert total > 5
    assert str(total) in report.warnings[0].message


def test_a_bad_confidence_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    import cv2

    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 0.9\n0 0.5 0.5 0.2 0.2 1.7\n")
    (tmp_path / "classes.txt").write_text("thing\n")
    report = Report(strict=False)
    dataset = load_dataset(tmp_path, report)
    assert len(dataset.splits["train"].images[0].annotations) == 1
    (error,) = report.errors
    assert "the last, '1.7', must be a confidence in [0, 1]" in error.message and error.line == 2
