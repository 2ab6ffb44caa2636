"""``yoloxkit export``, ``predict --weights model.onnx`` and ``yoloxkit benchmark``, run in-process."""

from __future__ import annotations

import importlib.util

import json
from pathlib import Path

import pytest
import torch

from tests.reference import COCO128_IMAGES
from yoloxkit import Detector
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.cli import main


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def checkpoint(detector: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "nano.pth"
    save_checkpoint(path, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict())
    return path


def test_export_then_predict_with_onnx_gives_pytorch_detections(capsys, checkpoint, tmp_path):
    out = tmp_path / "onnx"
    code, stdout, err = run(capsys, "export", "-w", checkpoint, "--format", "onnx", "--dynamic", "--out", out,
                            "--check-images", COCO128_IMAGES, "--check-count", 3)  # fmt: skip
    assert code == 0, err
    assert "parity onnxruntime yolox-nano.onnx: 3 images" in stdout and "PASS" in stdout
    report = json.loads((out / "export.json").read_text())
    assert report["parity"][0]["passed"] and report["metadata"]["outputs"] == "decoded"
    predictions = {}
    for weights in (checkpoint, out / "yolox-nano.onnx"):
        target = tmp_path / f"predicted_{weights.suffix[1:]}"
        code, _, err = run(capsys, "predict", COCO128_IMAGES / "0000000000[0-3]*.jpg", "-w", weights, "--out", target, "--no-draw", "--batch", 3)
        assert code == 0, err
        predictions[weights.suffix] = json.loads((target / "predictions.json").read_text())
    torch_records, onnx_records = predictions[".pth"], predictions[".onnx"]
    assert len(torch_records) == len(onnx_records) >= 4
    assert sum(len(r["detections"]) for r in onnx_records) > 20
    for a, b in zip(torch_records, onnx_records):
        assert [d["class_id"] for d in a["detections"]] == [d["class_id"] for d in b["detections"]]


def test_export_option_errors(capsys, checkpoint, tmp_path):
    code, _, err = run(capsys, "export", "-w", checkpoint, "--raw", "--nms", "--out", tmp_path)
    assert code == 2 and "--nms needs the decode" in err
    code, _, err = run(capsys, "export", "-w", checkpoint, "--format", "tflite", "--out", tmp_path)
    assert code == 2 and "--format must be one of onnx, openvino" in err
    code, _, err = run(capsys, "export", "-w", checkpoint, "--format", "tensorrt", "--out", tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "does not build TensorRT engines" in err and "export --format onnx" in err, err
    here = [why for why, absent in (("no CUDA device", not torch.cuda.is_available()), ("no tensorrt package", importlib.util.find_spec("tensorrt") is None)) if absent]
    assert all(why in err for why in here) and (bool(here) == ("(here:" in err)), err
    assert not any(tmp_path.iterdir())  # refused before anything is written
    code, _, err = run(capsys, "export", "-w", checkpoint, "--out", tmp_path, "--check-images", tmp_path / "none")
    assert code == 2 and err.startswith("yoloxkit: error:")


def test_failed_parity_removes_the_model(capsys, checkpoint, tmp_path):
    code, stdout, err = run(capsys, "export", "-w", checkpoint, "--out", tmp_path, "--no-simplify", "--check-count", 2,
                            "--prob-tol", 0, "--box-tol", 0)  # fmt: skip
    assert code == 2 and "parity check failed" in err and "FAIL" in stdout
    assert not (tmp_path / "yolox-nano.onnx").exists()
    assert json.loads((tmp_path / "export.json").read_text())["parity"][0]["passed"] is False


def test_benchmark_table_and_json(capsys, checkpoint, tmp_path):
    json_path = tmp_path / "bench.json"
    code, stdout, err = run(capsys, "benchmark", "-w", checkpoint, "--formats", "torch,onnx", "--batch", "1,2",
                            "--warmup", 1, "--iters", 2, "--threads", 1, "--json", json_path)  # fmt: skip
    assert code == 0, err
    rows = json.loads(json_path.read_text())
    assert [(r["format"], r["batch"]) for r in rows] == [("torch", 1), ("torch", 2), ("onnx", 1), ("onnx", 2)]
    assert all(r["threads"] == 1 and r["p95_ms"] >= r["p50_ms"] > 0 and r["images_per_s"] > 0 for r in rows)
    assert all(r["precision"] == "fp32" and r["load_mib"] > 0 and r["peak_mib"] >= r["load_mib"] for r in rows)
    assert "p50 ms" in stdout and "peak MiB" in stdout and "warm-up calls excluded" in stdout
    code, _, err = run(capsys, "benchmark", "-w", checkpoint, "--formats", "tensorrt")
    assert code == 2 and "unknown format 'tensorrt'" in err
    code, _, err = run(capsys, "benchmark", "-w", checkpoint, "--formats", "onnx", "--precision", "bf16")
    assert code == 2 and "no format of --formats runs --precision bf16" in err


def test_benchmark_of_a_rotated_model(capsys, tmp_path):
    json_path = tmp_path / "bench.json"
    code, _, err = run(capsys, "benchmark", "--model", "rotated-yolox-nano", "--size", 64, "--formats", "torch,onnx",
                       "--batch", 1, "--warmup", 1, "--iters", 1, "--threads", 1, "--json", json_path)  # fmt: skip
    assert code == 0, err
    rows = json.loads(json_path.read_text())
    assert [r["format"] for r in rows] == ["torch", "onnx"] and all(r["model"] == "rotated-yolox-nano" for r in rows)


@pytest.mark.slow
def test_benchmark_precisions(capsys, checkpoint, tmp_path):
    json_path = tmp_path / "bench.json"
    code, stdout, err = run(capsys, "benchmark", "-w", checkpoint, "--formats", "onnx,openvino", "--precision", "int8,bf16",
                            "--batch", 1, "--warmup", 0, "--iters", 1, "--threads", 1, "--json", json_path)  # fmt: skip
    assert code == 0, err
    rows = json.loads(json_path.read_text())
    assert [(r["format"], r["precision"]) for r in rows] == [("onnx", "int8"), ("openvino", "int8"), ("openvino", "bf16")]


def test_export_precision_options(capsys, checkpoint, tmp_path):
    code, _, err = run(capsys, "export", "-w", checkpoint, "--out", tmp_path, "--precision", "int4")
    assert code == 2 and "--precision must be one of fp32, fp16, bf16, int8" in err
    code, _, err = run(capsys, "export", "-w", checkpoint, "--out", tmp_path, "--precision", "int8", "--half")
    assert code == 2 and "--half means --precision fp16" in err
    code, _, err = run(capsys, "export", "-w", checkpoint, "--out", tmp_path, "--precision", "bf16", "--no-check")
    assert code == 2 and "bf16 is an OpenVINO precision" in err
