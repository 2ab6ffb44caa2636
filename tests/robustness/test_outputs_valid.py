"""Issue 14, part 4: outputs never crash and are always valid, whatever the model predicts.

A model early in training (or any model on odd input) can give huge or non-finite boxes. What
people look at (predictions.json, YOLO txt, drawings, serve) is finite and clipped to the image;
the COCO results file keeps the unclipped (finite) boxes; every JSON file is strict JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli_helpers import run_cli, write_png
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import create
from yoloxkit.structures import BoxFormat, Boxes, Detections
from yoloxkit.visualize import draw_detections


def _strict(path: Path) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def exploding_checkpoint(tmp_path_factory) -> Path:
    """yolox-nano whose box sizes overflow (exp of a huge regression) on some levels, and NaN on one."""
    torch.manual_seed(0)
    model = create("yolox-nano", 80)
    with torch.no_grad():
        model.head.reg_preds[0].bias[2:] = 200.0  # w, h = exp(200) * stride: inf in float32
        model.head.reg_preds[1].bias[:2] = 1e6  # centres far outside the image
        for preds in (*model.head.obj_preds, *model.head.cls_preds):
            preds.bias.fill_(5.0)  # everything scores high
    path = tmp_path_factory.mktemp("explode") / "explode.pth"
    save_checkpoint(path, model, "yolox-nano", list(COCO_CLASSES), PreprocessContract((64, 64)).to_dict())
    return path


def test_predict_with_exploding_boxes_exits_0_with_valid_clipped_outputs(tmp_path, capfd, exploding_checkpoint):
    image = write_png(tmp_path / "a.png", 80, 64)
    out = tmp_path / "out"
    run = run_cli(capfd, "predict", image, "-w", exploding_checkpoint, "--out", out, "--save-txt")
    assert run.code == 0, run
    assert "Traceback" not in run.err
    records = _strict(out / "predictions.json")
    detections = records[0]["detections"]
    assert detections, "the fixture model must detect something"
    for det in detections:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 <= x2 <= 80 and 0 <= y1 <= y2 <= 64, det["box"]
    coco = _strict(out / "predictions_coco.json")
    assert all(np.isfinite(entry["bbox"]).all() for entry in coco)
    summary = _strict(out / "summary.json")
    assert summary["dropped_nonfinite"] > 0  # the inf boxes were dropped and counted
    assert "non-finite detections dropped" in run.out
    for line in (out / "labels" / "a.txt").read_text().splitlines():
        values = [float(v) for v in line.split()[1:5]]
        assert all(0 <= v <= 1 for v in values), line
    assert (out / "images" / "a.jpg").stat().st_size > 0


@pytest.mark.parametrize("value", [1e30, -1e30, float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("box_format", [BoxFormat.XYXY, BoxFormat.RBOX])
def test_drawing_never_raises(value, box_format):
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    width = box_format.width
    boxes = np.array([[value] * width, [1.0, 2.0, 30.0, 40.0, 0.3][:width], [value, 5.0, 20.0, 30.0, 0.0][:width]], dtype=np.float32)
    detections = Detections(Boxes(boxes, box_format), np.array([0.9, value, 0.5], dtype=np.float32), np.array([0, 1, 2]),
                            ["a", "b", "c"], (48, 64))  # fmt: skip
    drawn = draw_detections(image, detections)
    assert drawn.shape == image.shape


def test_for_output_drops_non_finite_and_clips():
    boxes = np.array([[-10, -5, 200, 100], [np.inf, 0, 1, 1], [1, 1, 2, np.nan], [5, 5, 10, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, np.nan], dtype=np.float32)
    detections = Detections(Boxes(boxes), scores, np.array([0, 0, 0, 0]), ["a"], (50, 100))
    shown, dropped = detections.for_output()
    assert dropped == 3
    assert shown.boxes.data.tolist() == [[0, 0, 100, 50]]


def test_finite_corners_whose_width_overflows_are_dropped_before_evaluation():
    """Found by a diverging fine-tune: float32 corners at -3e38 and 2e38 are finite, their width
    is not; the trainer's validation stopped with 'boxes need finite x, y, w'."""
    from yoloxkit.evaluation import load_ground_truth
    from yoloxkit.evaluation.predictions import from_detections

    boxes = np.array([[-3e38, 10, 2e38, 20], [1, 2, 30, 40]], dtype=np.float32)
    det = Detections(Boxes(boxes, BoxFormat.XYXY), np.array([0.9, 0.8], np.float32), np.array([0, 0]), ["a"], (50, 60))
    kept, dropped = det.finite()
    assert dropped == 1 and len(kept) == 1 and np.array_equal(kept.boxes.data, boxes[1:])
    json.dumps(kept.to_coco(1), allow_nan=False)
    dataset = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "bccd"
    gt = load_ground_truth(dataset, "val")
    from_detections([int(gt.image_ids[0])], [kept], gt)  # no error
    with pytest.raises(Exception, match="finite x, y"):
        from_detections([int(gt.image_ids[0])], [det], gt)
