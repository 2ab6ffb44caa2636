"""The export mAP gate on a model that detects (issue 14): it passes a faithful export and refuses a
damaged one, naming the drop.

The dataset is labelled with the PyTorch model's own detections (scores >= 0.3), so PyTorch's COCO
AP on it is ~1.0 (0.990: the evaluation's NMS IoU 0.65 keeps a few overlaps that 0.45 removed) and any change the export makes to boxes, scores or their order shows as a drop.
The damaged export is the same network with the box-regression conv of the finest level scaled by
1.5: its boxes move, and the gate must say so.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloxkit import Detector
from yoloxkit.export import ExportedDetector, ExportOptions, compare_map, export_model
from yoloxkit.structures.boxes import BoxFormat


def self_labelled_coco(folder: Path, detector: Detector, images: list[np.ndarray], score: float = 0.3) -> Path:
    """A COCO dataset (split ``val``) whose objects are ``detector``'s detections scoring >= ``score``."""
    (folder / "val").mkdir(parents=True)
    (folder / "annotations").mkdir()
    records, labels = [], []
    for index, (image, found) in enumerate(zip(images, detector.predict(images, conf=score))):
        cv2.imwrite(str(folder / "val" / f"{index}.png"), image)
        records.append({"id": index + 1, "file_name": f"{index}.png", "width": image.shape[1], "height": image.shape[0]})
        for box, class_id in zip(found.boxes.convert(BoxFormat.XYWH).tolist(), found.class_ids.tolist()):
            labels.append({"id": len(labels) + 1, "image_id": index + 1, "category_id": class_id + 1, "bbox": box,
                           "area": box[2] * box[3], "iscrowd": 0})  # fmt: skip
    assert len(labels) >= 20, "the fixture model must detect for the gate to mean anything"
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(detector.class_names)]
    (folder / "annotations" / "instances_val.json").write_text(json.dumps({"images": records, "annotations": labels, "categories": categories}))
    return folder


@pytest.fixture(scope="module")
def labelled(detector, images, tmp_path_factory) -> Path:
    return self_labelled_coco(tmp_path_factory.mktemp("self"), detector, images)


def test_gate_passes_a_faithful_export_of_a_detecting_model(detector, images, labelled, tmp_path):
    result = export_model(detector, tmp_path / "fp32", "onnx", ExportOptions(), images=images[:2], data=labelled, log=lambda _: None)
    (gate,) = result.map
    assert gate.ap_pytorch >= 0.98  # the gate is measured where AP can drop
    assert gate.passed and abs(gate.difference) <= 1e-6


def test_gate_refuses_a_damaged_export_and_names_the_drop(detector, labelled, tmp_path):
    damaged = Detector(copy.deepcopy(detector.model), detector.model_name, contract=detector.contract)
    with torch.no_grad():
        damaged.model.head.reg_preds[0].weight.mul_(1.5)
    result = export_model(damaged, tmp_path / "damaged", "onnx", ExportOptions(), check=False, log=lambda _: None)
    gate = compare_map(detector, ExportedDetector.from_file(result.files[0]), labelled)
    assert not gate.passed
    assert gate.difference < -0.01, gate.summary()  # measured -0.031 (0.990 -> 0.959): a clear drop, not rounding
    assert f"difference {gate.difference:+.4f}" in gate.summary() and gate.summary().endswith("FAIL")
