"""A rotated model through the one Detector API: rbox detections, JSON with rbox and polygon, drawing,
sliced prediction from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yoloxkit import Detector
from yoloxkit.cli import main
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.dota.slicer import SlicedDetector
from yoloxkit.ops import ROTATED_NMS_IOU
from yoloxkit.structures import BoxFormat
from yoloxkit.visualize import draw_detections


def test_rotated_detector_predicts_oriented_boxes() -> None:
    detector = Detector.untrained("rotated-yolox-nano", num_classes=3)
    image = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    (det,) = detector.predict([image], conf=0.0)
    assert det.boxes.format == BoxFormat.RBOX and len(det) > 0
    angles = det.boxes.data[:, 4]
    assert (angles >= -np.pi / 2).all() and (angles < np.pi / 2).all()
    entry = det.to_dict()["detections"][0]
    assert len(entry["rbox"]) == 5 and len(entry["polygon"]) == 8 and len(entry["box"]) == 4
    drawn = draw_detections(image, det)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


def test_rotated_models_default_to_the_reference_nms_threshold() -> None:
    """Without an ``iou``, rotated models use ai4rs' 0.1 (axis-aligned ones YOLOX's 0.45)."""
    rotated = Detector.untrained("rotated-yolox-nano", num_classes=2)
    assert rotated.default_iou == ROTATED_NMS_IOU == 0.1
    assert Detector.untrained("yolox-nano").default_iou == 0.45
    assert SlicedDetector(rotated, 128, 32).default_iou == 0.1
    # At a 160 px input (525 candidates per class) rather than the default 640 (8,400), so that
    # rotated NMS over every candidate (conf 0) stays quick.
    small = Detector(rotated.model, rotated.model_name, rotated.class_names, PreprocessContract((160, 160)), pretrained=False)
    image = np.random.default_rng(2).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    (default,) = small.predict([image], conf=0.0)
    (explicit,) = small.predict([image], conf=0.0, iou=0.1)
    (loose,) = small.predict([image], conf=0.0, iou=0.45)
    np.testing.assert_array_equal(default.boxes.data, explicit.boxes.data)
    assert len(loose) > len(default)


def test_predict_slice_merges_tiles(tmp_path) -> None:
    """A rotated model that detects everywhere (objectness and class biases raised), sliced into
    128 px tiles: the merged detections cover the whole 420 x 300 image in its own coordinates,
    each with a consistent rbox and polygon."""
    import cv2
    import torch

    from yoloxkit.checkpoints import save_checkpoint
    from yoloxkit.data.preprocess import PreprocessContract
    from yoloxkit.models import create

    image_path = tmp_path / "big.png"
    cv2.imwrite(str(image_path), np.random.default_rng(1).integers(0, 255, (300, 420, 3), dtype=np.uint8))
    torch.manual_seed(0)
    model = create("rotated-yolox-nano", num_classes=2)
    with torch.no_grad():
        for preds in (*model.head.obj_preds, *model.head.cls_preds):
            preds.bias.fill_(4.0)
    weights = tmp_path / "detecting.pth"
    save_checkpoint(weights, model, "rotated-yolox-nano", ["a", "b"], PreprocessContract((128, 128)).to_dict())
    with pytest.raises(SystemExit) as done:
        main(["predict", str(image_path), "--weights", str(weights), "--slice", "128", "--slice-gap", "32", "--conf", "0.3",
              "--out", str(tmp_path / "out")])  # fmt: skip
    assert done.value.code in (0, None)
    records = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert records[0]["width"] == 420 and records[0]["height"] == 300
    detections = records[0]["detections"]
    assert len(detections) >= 10
    centres = np.array([d["rbox"][:2] for d in detections])
    assert centres[:, 0].max() > 300 and centres[:, 1].max() > 200  # found in the last tiles, shifted back
    assert centres[:, 0].min() < 128 and centres[:, 1].min() < 128  # and in the first
    for d in detections:
        polygon = np.array(d["polygon"]).reshape(4, 2)
        assert np.allclose(polygon.mean(0), d["rbox"][:2], atol=1e-3)  # the polygon is the rbox's
