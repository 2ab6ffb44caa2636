"""``yoloxkit eval`` and ``yoloxkit compare`` end to end, and the Python entry point ``evaluate``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from yoloxkit import Detector
from yoloxkit.datasets import load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.datasets.splitting import make_split
from yoloxkit.evaluation import evaluate, evaluate_predictions, resolve_split
from yoloxkit.evaluation.plots import PLOTS
from yoloxkit.evaluation.result import CLASS_COLUMNS

from .helpers import BCCD, COCO128, perturbed, run

COCO_KEYS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


@pytest.fixture(scope="module")
def bccd_predictions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two prediction files for BCCD's val split: perturbed ground truth with different seeds."""
    dataset = load_dataset(BCCD)
    gt = to_coco_dict(dataset, resolve_split(dataset, "val"))
    folder = tmp_path_factory.mktemp("bccd-preds")
    paths = folder / "a.json", folder / "b.json"
    for seed, path in enumerate(paths):
        path.write_text(json.dumps(perturbed(gt, np.random.default_rng(seed))))
    return paths


@pytest.fixture(scope="module")
def small_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split manifest over COCO128 whose val split holds 11 images (read in place)."""
    out = tmp_path_factory.mktemp("small-coco")
    make_split(load_dataset(COCO128), [0.9, 0.1], 0, ["train", "val"], out)
    return out / "split.yaml"


def test_eval_predictions_writes_every_output(tmp_path, capsys, bccd_predictions) -> None:
    out = tmp_path / "out"
    assert run(["eval", "--predictions", bccd_predictions[0], "--data", BCCD, "--out", out, "--gallery", "2", "--plots"]) == 0
    printed = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in printed
    assert "P/R/F1 (IoU 0.5) at best-F1 conf" in printed and "Platelets" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics)[:2] == ["coco", "per_class"] and list(metrics["coco"]) == COCO_KEYS
    assert metrics["coco"] == evaluate_predictions(bccd_predictions[0], BCCD).coco
    assert {"prf", "voc", "confusion", "errors", "worst_images"} <= set(metrics)
    with (out / "per_class.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CLASS_COLUMNS) and [r["name"] for r in rows] == [
        "Platelets",
        "RBC",
        "WBC",
    ]  # names sorted: BCCD has no classes.txt
    report = (out / "report.md").read_text()
    assert (
        "## Confusion matrix" in report
        and "## Errors (TIDE-style)" in report
        and "![PR curves](pr_curves.png)" in report
    )
    for name in PLOTS:
        assert (out / name).stat().st_size > 10_000, name
    assert len(list((out / "gallery").glob("*.jpg"))) == 2
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert (thresholds["criterion"], thresholds["iou"]) == ("f1", 0.5) and set(thresholds["thresholds"]) == {"Platelets", "RBC", "WBC"}
    assert all(row["conf_interval"][0] <= row["conf"] <= row["conf_interval"][1] for row in thresholds["classes"])
    assert "## Per-class operating thresholds (thresholds.json)" in report


def test_eval_operating_precision_target_at_a_stricter_iou(tmp_path, bccd_predictions) -> None:
    out = tmp_path / "out"
    argv = ["eval", "--predictions", bccd_predictions[0], "--data", BCCD, "--out", out, "--no-plots",
            "--operating", "precision=0.8", "--operating-iou", "0.75"]  # fmt: skip
    assert run(argv) == 0
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert (thresholds["criterion"], thresholds["target"], thresholds["iou"]) == ("precision", 0.8, 0.75)
    assert all(row["precision"] >= 0.8 for row in thresholds["classes"] if row["conf"] is not None)


@pytest.fixture(scope="module")
def weights_run(tmp_path_factory: pytest.TempPathFactory, nano_checkpoint: Path, small_coco: Path) -> tuple[Path, str]:
    """``yoloxkit eval --weights`` on the small split: (output folder, what it printed)."""
    out = tmp_path_factory.mktemp("weights-run")
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert run(["eval", "--weights", nano_checkpoint, "--data", small_coco, "--out", out, "--no-plots"]) == 0
    return out, capture.getvalue()


def test_eval_weights_then_its_predictions_give_the_same_numbers(tmp_path, weights_run, small_coco) -> None:
    out, printed = weights_run
    assert "speed per image: preprocess" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    speed = metrics["speed"]
    assert speed["inference_ms"] > 0 and speed["preprocess_ms"] > 0 and speed["postprocess_ms"] > 0
    assert speed["peak_memory_mb"] > 0 and metrics["settings"]["detector_conf"] == 0.001
    assert metrics["images"] == 11 and metrics["detections"] > 0
    again = tmp_path / "again"
    assert (
        run(
            ["eval", "--predictions", out / "predictions_coco.json", "--data", small_coco, "--out", again, "--no-plots"]
        )
        == 0
    )
    assert json.loads((again / "metrics.json").read_text())["coco"] == metrics["coco"]


def test_python_api_evaluate(nano_checkpoint, small_coco) -> None:
    detector = Detector.from_checkpoint(nano_checkpoint, input_size=64)
    result = evaluate(detector, small_coco, conf=0.01, at_conf=0.3)
    assert result.settings["detector_conf"] == 0.01 and result.at_conf.conf == 0.3
    assert result.settings["input_size"] == [64, 64] and result.gt.num_images == 11
    assert set(result.speed) >= {"preprocess_ms", "inference_ms", "postprocess_ms", "peak_memory_mb"}


def test_compare_two_prediction_files(tmp_path, capsys, bccd_predictions) -> None:
    a, b = bccd_predictions
    assert run(["compare", a, b, "--data", BCCD, "--bootstrap", "200", "--out", tmp_path]) == 0
    printed = capsys.readouterr().out
    assert "95 % CI [" in printed and "one run each" in printed and "seed-to-seed noise is not in this interval" in printed
    assert "WBC" in printed
    report = json.loads((tmp_path / "compare.json").read_text())
    boot = report["bootstrap"]
    assert boot["ap_a"] == report["coco"]["AP"]["A"] and boot["ap_b"] == report["coco"]["AP"]["B"]
    assert boot["low"] <= boot["delta"] <= boot["high"] and boot["samples"] == 200
    assert len(report["per_class"]) == 3


def test_compare_a_checkpoint_with_its_own_predictions(capsys, nano_checkpoint, small_coco, weights_run) -> None:
    argv = [
        "compare",
        nano_checkpoint,
        weights_run[0] / "predictions_coco.json",
        "--data",
        small_coco,
        "--bootstrap",
        "20",
    ]
    assert run(argv) == 0
    assert "no significant difference" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--data", BCCD], "give exactly one of --weights"),
        (["eval", "--data", BCCD, "--weights", "w.pth", "--predictions", "p.json"], "give exactly one of --weights"),
        (["eval", "--data", BCCD, "--predictions", "missing.json"], "predictions file not found"),
        (["eval", "--data", BCCD, "--split", "nope", "--predictions", "p.json"], "no split 'nope'"),
        (["eval", "--data", BCCD, "--predictions", "p.json", "--gallery", "3"], "--gallery needs --out"),
        (["eval", "--data", BCCD, "--weights", "w.pth", "--conf", "2"], "--conf and --iou must lie in [0, 1]"),
        (["eval", "--data", BCCD, "--predictions", "p.json", "--operating", "precision=2"], "--operating"),
        (["eval", "--data", BCCD, "--predictions", "p.json", "--operating-iou", "0.52"], "--operating-iou"),
    ],
)
def test_user_errors_are_one_line(capsys, argv: list, message: str) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_image_ids_are_a_clear_cli_error(tmp_path, capsys) -> None:
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([{"image_id": 123456, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]))
    assert run(["eval", "--predictions", path, "--data", BCCD]) == 2
    assert "preds.json: 1 entries have image ids not in the evaluated split (e.g. 123456)" in capsys.readouterr().err


def test_empty_predictions_file(tmp_path, capsys) -> None:
    path = tmp_path / "empty.json"
    path.write_text("[]")
    assert run(["eval", "--predictions", path, "--data", BCCD, "--out", tmp_path / "out"]) == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["coco"]["AP"] == 0.0
    # Without --plots: report.html has every chart, no PNG is drawn and report.md links none.
    assert (tmp_path / "out" / "report.html").is_file() and not list((tmp_path / "out").glob("*.png"))
    assert ".png)" not in (tmp_path / "out" / "report.md").read_text()
