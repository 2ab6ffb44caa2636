"""Validation logs the loss next to mAP, and each class's AP (issue 14), in metrics.csv and TensorBoard."""

from __future__ import annotations

import math
from pathlib import Path

from tests.train.test_trainer import config, synth  # noqa: F401 - the fixture
from yoloxkit.train.runlog import RunLog
from yoloxkit.train.trainer import Trainer


def test_validation_rows_carry_loss_and_per_class_ap(synth: Path, tmp_path: Path) -> None:  # noqa: F811
    summary = Trainer(config(synth, tmp_path / "run", "log.sinks=[csv,tensorboard]", epochs=2)).fit()
    rows = [r for r in RunLog.read(tmp_path / "run" / "metrics.csv") if r["scope"] == "epoch"]
    assert len(rows) == 2
    for row in rows:
        assert math.isfinite(row["val/loss"]) and row["val/loss"] > 0
        assert math.isclose(row["val/loss"], row["val/loss_iou"] + row["val/loss_obj"] + row["val/loss_cls"], rel_tol=1e-6)
        per_class = {k: v for k, v in row.items() if k.startswith("val/AP50_95/")}
        assert per_class and all(0.0 <= v <= 1.0 for v in per_class.values()), row
    assert "val/loss" in summary["final"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    tags = events.Tags()["scalars"]
    assert any("val" in t and "loss" in t for t in tags) and any("AP50_95" in t for t in tags), tags
