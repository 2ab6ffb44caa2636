"""COCO's per-object ``area`` (a segmentation's area, which sizes objects small/medium/large) survives
a COCO -> COCO conversion; objects without one get their box area."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from yoloxkit.datasets import Report
from yoloxkit.datasets.load import load_dataset, write_dataset


def test_coco_area_is_kept_and_missing_area_is_the_box_area(tmp_path: Path) -> None:
    (tmp_path / "val2017").mkdir()
    (tmp_path / "annotations").mkdir()
    cv2.imwrite(str(tmp_path / "val2017" / "a.jpg"), np.zeros((50, 60, 3), np.uint8))
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 20], "area": 123.5, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [5, 5, 4, 4], "iscrowd": 0},
    ]
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 60, "height": 50}],
            "categories": [{"id": 3, "name": "car"}], "annotations": annotations}  # fmt: skip
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(coco))
    dataset = load_dataset(tmp_path / "annotations" / "instances_val2017.json")
    write_dataset(dataset, "coco", tmp_path / "out", Report())
    (written,) = (tmp_path / "out" / "annotations").glob("*.json")
    assert [a["area"] for a in json.loads(written.read_text())["annotations"]] == [123.5, 16.0]
