"""write_summary (atomic JSON, NaN -> null) and format_summary (the end-of-run table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yoloxkit.errors import YoloxkitError
from yoloxkit.train.summary import format_summary, write_summary

STOP = "early_stopping: no val/mAP50_95 improvement > 0.001 for 5 epochs"


def example_summary(tmp_path: Path) -> dict:
    return {
        "model": "yolox-nano",
        "classes": ["cat", "dog", "bird"],
        "epochs_run": 12,
        "epochs_planned": 30,
        "stop_reason": STOP,
        "best_epoch": 7,
        "best_metric": 0.4123,
        "metric": "val/mAP50_95",
        "best": {"epoch": 7, "val/mAP50": 0.6231, "val/mAP50_95": 0.4123, "loss": 3.2, "data_time": 0.01},
        "final": {"val/mAP50_95": 0.405, "val/mAP50": float("nan"), "loss": 3.1},
        "train_time_s": 3725.4,
        "images_per_s": 151.26,
        "checkpoints": {"best": tmp_path / "best.pth", "last": tmp_path / "last.pth"},
        "device": "cuda:0",
        "bad_images": ["a.jpg"],
        "load_report": {"source": "yolox_nano.pth", "layout": "megvii", "loaded": ["k1", "k2"], "skipped": ["k3"], "match_ratio": 0.97,
                        "counts": {"loaded": 2, "skipped": 1}, "rescaled": {"backbone.stem.conv": 21.9}},
    }


def test_summary_json_nan_is_null_and_keys_sorted(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, example_summary(tmp_path))
    text = path.read_text()
    data = json.loads(text)
    assert data["final"]["val/mAP50"] is None and "NaN" not in text
    assert data["checkpoints"]["best"] == str(tmp_path / "best.pth")
    assert list(data) == sorted(data)


def test_summary_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, {"model": "yolox-s"})
    with pytest.raises(YoloxkitError, match="'summary.final'"):
        write_summary(path, {"model": "yolox-m", "final": object()})
    assert json.loads(path.read_text()) == {"model": "yolox-s"}  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_format_summary_table(tmp_path: Path) -> None:
    text = format_summary(example_summary(tmp_path))
    assert text.splitlines()[0] == "training stopped early after 12/30 epochs"
    assert STOP in text
    assert "3 (cat, dog, bird)" in text
    assert "1:02:05" in text and "151.3 images/s" in text and "cuda:0" in text
    assert "epoch 7: val/mAP50_95 0.4123" in text
    assert "val/mAP50 n/a" in text
    assert "val/mAP50_95 0.4123  val/mAP50 0.6231  loss 3.2" in text and "data_time" not in text
    assert str(tmp_path / "last.pth") in text
    assert "1 skipped" in text and "loaded 2" in text and "match_ratio 0.97" in text and "rescaled 1" in text and "counts" not in text


def test_format_summary_of_an_interrupted_run_without_validation() -> None:
    text = format_summary({"model": "yolox-s", "stop_reason": "interrupted", "epochs_run": 1, "epochs_planned": 5,
                           "best_epoch": None, "final": {"loss": 4.0}, "load_report": None, "bad_images": []})
    assert text.splitlines()[0] == "training interrupted after 1/5 epochs"
    assert "best" not in text and "loss 4" in text
