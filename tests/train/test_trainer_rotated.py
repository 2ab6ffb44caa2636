"""Rotated YOLOX through the same trainer: polygon labels become le90 rboxes, the rotated loss trains,
validation scores by the DOTA rules, and the checkpoint predicts oriented boxes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from yoloxkit import Detector
from yoloxkit.cli import main
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures import BoxFormat
from yoloxkit.train.config import make_train_config
from yoloxkit.train.runlog import RunLog
from yoloxkit.train.trainer import Trainer

FAST = ["augment.input_size=[64,64]", "multiscale.enabled=false", "loader.workers=0", "log.progress=false",
        "log.interval=1", "val.interval=1", "augment.no_aug_epochs=1", "log.plots=false"]  # fmt: skip


def synth(folder: Path, rotated: bool) -> Path:
    args = ["data", "synth", "--out", str(folder), "--images", "10", "--classes", "2", "--size", "64"]
    with pytest.raises(SystemExit) as done:
        main(args + (["--rotated"] if rotated else []))
    assert done.value.code in (0, None)
    return folder


def test_rotated_model_trains_validates_and_predicts(tmp_path: Path) -> None:
    data = synth(tmp_path / "data", rotated=True)
    cfg = make_train_config(overrides=FAST, data=str(data), model="rotated-yolox-nano", epochs=2, batch=4, out=tmp_path / "run")
    summary = Trainer(cfg).fit()
    rows = [r for r in RunLog.read(tmp_path / "run" / "metrics.csv") if r["scope"] == "step"]
    assert rows and all(math.isfinite(r["loss_iou"]) and math.isfinite(r["loss"]) for r in rows)
    assert rows[-1]["loss_l1"] > 0  # the last epoch is the no-aug phase
    # Two epochs on ten images learn nothing measurable (learning is asserted by
    # tests/train/test_rotated_learning.py); here the validation must have run and scored.
    assert math.isfinite(summary["final"]["val/mAP50"]) and math.isfinite(summary["final"]["val/mAP50_95"])
    validated = [r for r in RunLog.read(tmp_path / "run" / "metrics.csv") if r["scope"] == "epoch"]
    assert [math.isfinite(r["val/mAP50"]) for r in validated] == [True, True]  # val.interval=1: both epochs
    detector = Detector.from_checkpoint(tmp_path / "run" / "best.pt")
    assert detector.model_name == "rotated-yolox-nano"
    (det,) = detector.predict([str(next((data / "val").iterdir()))], conf=0.0)
    assert det.boxes.format == BoxFormat.RBOX
    # `yoloxkit eval` scores a rotated model by the DOTA rules: the trainer's validation number
    with pytest.raises(SystemExit) as done:
        main(["eval", "--weights", str(tmp_path / "run" / "best.pt"), "--data", str(data), "--out", str(tmp_path / "eval")])
    assert done.value.code in (0, None)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["AP50"] == pytest.approx(summary["best"]["val/mAP50"], abs=1e-9)
    assert len(metrics["angle_errors"]["bins"]) == 7  # eval adds the angle errors per bin


def test_rotated_model_refuses_axis_aligned_data(tmp_path: Path) -> None:
    data = synth(tmp_path / "data", rotated=False)
    cfg = make_train_config(overrides=FAST, data=str(data), model="rotated-yolox-nano", epochs=1, batch=4, out=tmp_path / "run")
    with pytest.raises(YoloxkitError, match="needs oriented boxes"):
        Trainer(cfg)
