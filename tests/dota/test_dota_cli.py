"""``yoloxkit dota split|merge|task1|eval`` end to end on ../shared/datasets/dota_sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from yoloxkit.cli.dota_cmd import app as dota
from yoloxkit.dota.split import read_objects
from yoloxkit.structures import BoxFormat, Boxes

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "dota_sample"


def _run(*args: str) -> str:
    assert args[0] == "dota"
    result = CliRunner().invoke(dota, list(args[1:]))
    assert result.exit_code == 0, result.output
    return result.output


def _patch_predictions(split_dir: Path, oriented: bool) -> list[dict]:
    """What `yoloxkit predict` writes for the patches, with the ground truth as detections."""
    records = []
    for path, objects in sorted(read_objects(split_dir).items()):
        boxes = Boxes(objects.quads.astype(np.float64), BoxFormat.QBOX)
        rboxes, xyxy = boxes.convert(BoxFormat.RBOX).tolist(), boxes.convert(BoxFormat.XYXY).tolist()
        detections = []
        for k, name in enumerate(objects.names):
            entry = {"box": xyxy[k], "score": 0.9 - 0.001 * k, "class_id": 0, "class_name": name}
            if oriented:
                entry["rbox"] = rboxes[k]
            detections.append(entry)
        records.append({"file": str(path), "width": 256, "height": 256, "detections": detections})
    return records


def test_split_merge_task1_eval(tmp_path):
    out = tmp_path / "split"
    assert "12 patches, 137 objects (13 cut" in _run("dota", "split", str(SAMPLE), "--out", str(out), "--size", "256", "--gap", "64")
    records = _patch_predictions(out, oriented=True)
    records[0]["detections"] = []  # a patch without detections (no box type to tell) merges with the others
    (tmp_path / "patches.json").write_text(json.dumps(records))
    assert "12 patches -> 1 images, 64 detections" in _run("dota", "merge", str(tmp_path / "patches.json"), "--out", str(tmp_path / "merged"))
    merged = json.loads((tmp_path / "merged" / "predictions.json").read_text())
    entry = merged[0]["detections"][0]
    assert merged[0]["file"] == "P1888" and len(entry["rbox"]) == 5 and len(entry["polygon"]) == 8
    assert len(list((tmp_path / "merged" / "task1").glob("Task1_*.txt"))) == 15
    _run("dota", "eval", str(tmp_path / "merged" / "task1"), "--labels", str(SAMPLE), "--out", str(tmp_path / "m.json"))
    metrics = json.loads((tmp_path / "m.json").read_text())
    per_class = {row["class"]: row for row in metrics["per_class"]}
    assert per_class["small-vehicle"]["AP50"] == 1.0 and per_class["large-vehicle"]["AP50"] == 1.0
    assert metrics["mAP50_task1"] == 1.0 and metrics["classes_evaluated"] == 2  # the mean over the classes with objects
    assert per_class["plane"]["AP50"] is None  # no objects in these images: no AP
    _run("dota", "task1", str(tmp_path / "merged" / "predictions.json"), "--out", str(tmp_path / "t1"), "--zip", "sub.zip")
    assert (tmp_path / "t1" / "sub.zip").is_file()
    assert (tmp_path / "t1" / "Task1_small-vehicle.txt").read_text() == (tmp_path / "merged" / "task1" / "Task1_small-vehicle.txt").read_text()


def test_axis_aligned_merge_and_errors(tmp_path):
    out = tmp_path / "split"
    _run("dota", "split", str(SAMPLE), "--out", str(out), "--size", "256", "--gap", "64")
    (tmp_path / "patches.json").write_text(json.dumps(_patch_predictions(out, oriented=False)))
    _run("dota", "merge", str(tmp_path / "patches.json"), "--out", str(tmp_path / "merged"), "--iou", "0.5", "--no-task1")
    merged = json.loads((tmp_path / "merged" / "predictions.json").read_text())
    assert len(merged[0]["detections"]) == 64 and "rbox" not in merged[0]["detections"][0]
    assert not (tmp_path / "merged" / "task1").exists()
    result = CliRunner().invoke(dota, ["split", str(SAMPLE), "--out", str(out)])
    assert result.exit_code != 0 and "already holds files" in str(result.exception)
