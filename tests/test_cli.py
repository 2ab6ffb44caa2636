"""The command line (run in-process) and the input handling of ``Detector.predict``."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloxkit import Detector, Detections, YoloxkitError
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.coco import COCO_CATEGORY_IDS, COCO_CLASSES
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import create

from tests.cli_helpers import Run, one_line_error, run_cli

PUBLISHED_PARAMS = {
    "yolox-nano": 912159,
    "yolox-tiny": 5055855,
    "yolox-s": 8968255,
    "yolox-m": 25326495,
    "yolox-l": 54208895,
    "yolox-x": 99071455,
}
# GFLOPs from Megvii's model-zoo table (rounded there; ours count convolutions only).
PUBLISHED_GFLOPS = {"yolox-nano": 1.08, "yolox-tiny": 6.45, "yolox-s": 26.8, "yolox-m": 73.8, "yolox-l": 155.6,
                    "yolox-x": 281.9}
YOLOXKIT = Path(sys.executable).with_name("yoloxkit")


def assert_one_line_error(result: Run) -> str:
    """Exit status 2 and exactly one stderr line ``yoloxkit: error: ...``; returns the message."""
    return one_line_error(result)


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------ models


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "models", "--json")
    assert result.code == 0 and result.err == ""
    rows = json.loads(result.out)
    assert isinstance(rows, list)
    assert [row["name"] for row in rows] == list(PUBLISHED_PARAMS) + [f"rotated-{name}" for name in PUBLISHED_PARAMS]
    rotated = {row["name"]: row for row in rows[len(PUBLISHED_PARAMS) :]}
    assert all(row["input_size"] == [1024, 1024] for row in rotated.values())
    assert rotated["rotated-yolox-s"]["params"] > PUBLISHED_PARAMS["yolox-s"]  # + the angle branch
    for row in rows[: len(PUBLISHED_PARAMS)]:
        assert set(row) == {"name", "params", "gflops", "input_size"}
        assert row["params"] == PUBLISHED_PARAMS[row["name"]]
        assert row["gflops"] == pytest.approx(PUBLISHED_GFLOPS[row["name"]], rel=0.04)
        assert row["input_size"] == ([416, 416] if row["name"] in ("yolox-nano", "yolox-tiny") else [640, 640])


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "models")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["model", "params", "GFLOPs", "input"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == list(PUBLISHED_PARAMS) + [f"rotated-{name}" for name in PUBLISHED_PARAMS]
    assert "99,071,455" in lines[len(PUBLISHED_PARAMS)] and lines[len(PUBLISHED_PARAMS)].endswith("640x640")


# ------------------------------------------------------------------------------ predict outputs


def check_record(record: dict, image_path: Path) -> None:
    """One predictions.json entry: file, size and well-formed detections."""
    image = cv2.imread(str(image_path))
    assert record["file"] == str(image_path)
    assert (record["height"], record["width"]) == image.shape[:2]
    assert record["detections"], "the fixture model should detect something"
    for det in record["detections"]:
        assert set(det) == {"box", "score", "class_id", "class_name"}
        x1, y1, x2, y2 = det["box"]
        assert all(isinstance(v, float) for v in det["box"]) and x1 <= x2 and y1 <= y2
        assert 0.25 <= det["score"] <= 1.0
        assert isinstance(det["class_id"], int) and 0 <= det["class_id"] < 80
        assert det["class_name"] == COCO_CLASSES[det["class_id"]]


def test_predict_single_image(coco_images: list[Path], nano_checkpoint: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    image = coco_images[0]
    out = tmp_path / "out"
    result = run_cli(capsys, "predict", image, "-w", nano_checkpoint, "--size", "128", "-o", out, "--save-txt")
    assert result.code == 0, result.err
    assert result.err == ""  # no progress bar when stderr is not a terminal
    records = read_json(out / "predictions.json")
    assert isinstance(records, list) and len(records) == 1
    check_record(records[0], image)
    count = len(records[0]["detections"])
    assert result.out.startswith(f"1 images, {count} detections")

    # Same detections as the Python API: clipped to the image in predictions.json, as they are
    # in the COCO results file (the reference's convention for AP) without clipping.
    raw = Detector.from_checkpoint(nano_checkpoint).predict(image)[0]
    assert records[0]["detections"] == raw.for_output()[0].to_dict()["detections"]
    height, width = raw.image_size
    assert all(0 <= d["box"][0] <= d["box"][2] <= width and 0 <= d["box"][1] <= d["box"][3] <= height for d in records[0]["detections"])
    assert any(d["box"] != u["box"] for d, u in zip(records[0]["detections"], raw.to_dict()["detections"]))  # some were clipped

    coco = read_json(out / "predictions_coco.json")
    assert len(coco) == count
    for entry, det in zip(coco, raw.to_dict()["detections"]):
        assert set(entry) == {"image_id", "category_id", "bbox", "score"}
        assert entry["image_id"] == records[0]["image_id"] == 0
        assert entry["category_id"] == COCO_CATEGORY_IDS[det["class_id"]]
        x1, y1, x2, y2 = det["box"]
        assert entry["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-3)

    lines = (out / "labels" / f"{image.stem}.txt").read_text().splitlines()
    assert len(lines) == count
    for line, det in zip(lines, records[0]["detections"]):
        fields = line.split()
        assert len(fields) == 6 and int(fields[0]) == det["class_id"]
        assert float(fields[5]) == pytest.approx(det["score"], abs=1e-5)

    drawn = cv2.imread(str(out / "images" / f"{image.stem}.jpg"))
    assert drawn is not None and drawn.shape == cv2.imread(str(image)).shape


def make_folder(root: Path, images: list[Path]) -> Path:
    """Images whose output names would collide if only file stems were used, plus a non-image."""
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(images[0], folder / "a.jpg")
    shutil.copy(images[1], folder / "sub" / "a.jpg")
    shutil.copy(images[2], folder / "b.jpg")
    cv2.imwrite(str(folder / "b.png"), cv2.imread(str(images[3])))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_predict_folder_keeps_every_output(coco_images: list[Path], nano_checkpoint: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(tmp_path, coco_images)
    out = tmp_path / "out"
    result = run_cli(capsys, "predict", folder, "-w", nano_checkpoint, "-o", out, "--batch", "3", "--save-txt")
    assert result.code == 0, result.err
    records = read_json(out / "predictions.json")
    files = [folder / "a.jpg", folder / "b.jpg", folder / "b.png", folder / "sub" / "a.jpg"]
    assert [r["file"] for r in records] == [str(f) for f in files]
    assert [r["image_id"] for r in records] == [0, 1, 2, 3]
    for record, path in zip(records, files):
        check_record(record, path)
    stems = ["a", "b_jpg", "b_png", "sub/a"]
    for stem, record in zip(stems, records):
        labels = (out / "labels" / f"{stem}.txt").read_text().splitlines()
        assert len(labels) == len(record["detections"])
        assert (out / "images" / f"{stem}.jpg").is_file()
    assert {r["image_id"] for r in read_json(out / "predictions_coco.json")} == {0, 1, 2, 3}


@pytest.mark.parametrize("pattern, expected", [("*.jpg", ["a.jpg", "b.jpg"]), ("**/a.jpg", ["a.jpg", "sub/a.jpg"])])
def test_predict_glob(pattern: str, expected: list[str], coco_images: list[Path], nano_checkpoint: Path,
                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(tmp_path, coco_images)
    out = tmp_path / "out"
    result = run_cli(capsys, "predict", f"{folder}/{pattern}", "-w", nano_checkpoint, "-o", out, "--no-draw")
    assert result.code == 0, result.err
    assert [r["file"] for r in read_json(out / "predictions.json")] == [str(folder / name) for name in expected]
    assert not (out / "images").exists()


def test_predict_video(coco_images: list[Path], nano_checkpoint: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    assert writer.isOpened()
    for path in coco_images[:3] + coco_images[:2]:
        writer.write(cv2.resize(cv2.imread(str(path)), (96, 64)))
    writer.release()

    out = tmp_path / "out"
    result = run_cli(capsys, "predict", video, "-w", nano_checkpoint, "-o", out, "--save-txt", "--batch", "2")
    assert result.code == 0, result.err
    records = read_json(out / "predictions.json")
    assert [r["file"] for r in records] == [f"{video}#frame={i:06d}" for i in range(5)]
    assert all((r["width"], r["height"]) == (96, 64) for r in records)
    for i, record in enumerate(records):
        assert len((out / "labels" / f"{i:06d}.txt").read_text().splitlines()) == len(record["detections"])
    drawn = cv2.VideoCapture(str(out / "clip_pred.mp4"))
    assert drawn.isOpened() and int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    ok, frame = drawn.read()
    drawn.release()
    assert ok and frame.shape == (64, 96, 3)


def test_predict_without_weights_warns(coco_images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "predict", coco_images[0], "-m", "nano", "--size", "64", "-o", tmp_path, "--no-draw")
    assert result.code == 0
    assert "RANDOM weights" in result.err
    assert len(read_json(tmp_path / "predictions.json")) == 1


# ------------------------------------------------------------------------------ predict errors


class _RunsCode:
    """Unpickling this would create ``marker``: loading must refuse before that happens."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _error_case(name: str, tmp_path: Path, image: Path, checkpoint: Path) -> tuple[list[str | Path], str]:
    """Arguments for one failing ``predict`` run and a fragment its error must contain."""
    out = ["-o", tmp_path / "out"]
    if name == "missing-source":
        return ["predict", tmp_path / "nope.jpg", "-w", checkpoint, *out], "source not found"
    if name == "corrupt-image":
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(random.Random(0).randbytes(3000))
        return ["predict", bad, "-w", checkpoint, *out], "cannot decode image"
    if name == "empty-folder":
        (tmp_path / "empty").mkdir()
        return ["predict", tmp_path / "empty", "-w", checkpoint, *out], "no images"
    if name == "glob-without-match":
        return ["predict", f"{tmp_path}/*.jpg", "-w", checkpoint, *out], "no images match"
    if name == "corrupt-video":
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(random.Random(0).randbytes(3000))
        return ["predict", bad, "-w", checkpoint, *out], "video"
    if name == "missing-weights":
        return ["predict", image, "-w", tmp_path / "nope.pth", *out], "weights not found"
    weights = tmp_path / f"{name}.pth"
    if name == "wrong-size":
        torch.save({"model": create("yolox-tiny").state_dict()}, weights)
        return ["predict", image, "-w", weights, "--model", "yolox-s", *out], "looks like yolox-tiny with 80 classes"
    if name == "wrong-class-names":
        save_checkpoint(weights, create("yolox-nano", 3), "yolox-nano", ["a", "b"], PreprocessContract((64, 64)).to_dict())
        return ["predict", image, "-w", weights, "--model", "yolox-nano", *out], "2 class names given for a model with 3"
    if name == "wrong-class-count":
        state = create("yolox-nano", 80).state_dict()
        state["head.cls_preds.2.weight"] = torch.zeros(3, 64, 1, 1)
        state["head.cls_preds.2.bias"] = torch.zeros(3)
        torch.save(state, weights)
        return ["predict", image, "-w", weights, "--model", "yolox-nano", *out], "head.cls_preds.2.weight: checkpoint (3,"
    if name == "pickled-code":
        torch.save({"model": create("yolox-nano").state_dict(), "x": _RunsCode(tmp_path / "code-ran")}, weights)
        return ["predict", image, "-w", weights, *out], "refusing to load"
    if name == "corrupt-checkpoint":
        weights.write_bytes(checkpoint.read_bytes()[:5000])
        return ["predict", image, "-w", weights, *out], "corrupt or truncated"
    options = {"bad-size": ["--size", "100"], "bad-conf": ["--conf", "1.5"], "bad-batch": ["--batch", "0"]}[name]
    fragment = {"bad-size": "multiples of 32", "bad-conf": "--conf and --iou", "bad-batch": "--batch must be >= 1"}[name]
    return ["predict", image, "-w", checkpoint, *options, *out], fragment


@pytest.mark.parametrize(
    "case",
    ["missing-source", "corrupt-image", "empty-folder", "glob-without-match", "corrupt-video", "missing-weights",
     "wrong-size", "wrong-class-names", "wrong-class-count", "pickled-code", "corrupt-checkpoint", "bad-size",
     "bad-conf", "bad-batch"],
)
def test_predict_errors_are_one_line(case: str, coco_images: list[Path], nano_checkpoint: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    args, fragment = _error_case(case, tmp_path, coco_images[0], nano_checkpoint)
    message = assert_one_line_error(run_cli(capsys, *args))
    assert fragment in message
    assert not (tmp_path / "code-ran").exists()


def test_installed_command_prints_one_line(tmp_path: Path, nano_checkpoint: Path) -> None:
    """The real entry point, in its own process: no progress bar, warning or library noise on stderr."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(random.Random(1).randbytes(3000))
    proc = subprocess.run([str(YOLOXKIT), "predict", str(bad), "-w", str(nano_checkpoint), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"yoloxkit: error: cannot decode image (corrupt or unsupported format): {bad}"]


# ------------------------------------------------------------------------------ Detector.predict inputs


@pytest.fixture(scope="module")
def detector(nano_checkpoint: Path) -> Detector:
    return Detector.from_checkpoint(nano_checkpoint)


@pytest.fixture(scope="module")
def photo(coco_images: list[Path]) -> np.ndarray:
    """A real BGR image, small enough to keep predictions quick."""
    return cv2.resize(cv2.imread(str(coco_images[0])), (120, 90))


def same(a: Detections, b: Detections) -> bool:
    """Identical detections (boxes, scores, classes)."""
    return (
        np.array_equal(a.boxes.numpy().data, b.boxes.numpy().data)
        and np.array_equal(a.scores, b.scores)
        and np.array_equal(a.class_ids, b.class_ids)
    )


def test_greyscale_inputs_are_replicated(detector: Detector, photo: np.ndarray) -> None:
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    expected = detector.predict(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))[0]
    assert len(expected) > 0
    assert not same(expected, detector.predict(photo)[0])  # the fixture model does look at the pixels
    assert same(detector.predict(grey)[0], expected)
    assert same(detector.predict(grey[:, :, None])[0], expected)


def test_alpha_channel_is_dropped(detector: Detector, photo: np.ndarray) -> None:
    alpha = np.random.default_rng(0).integers(0, 256, photo.shape[:2], dtype=np.uint8)
    bgra = np.dstack([photo, alpha])
    assert same(detector.predict(bgra)[0], detector.predict(photo)[0])


def test_uint16_and_float_inputs_are_rescaled(detector: Detector, photo: np.ndarray) -> None:
    expected = detector.predict(photo)[0]
    assert same(detector.predict(photo.astype(np.uint16) * 257)[0], expected)
    assert same(detector.predict(photo.astype(np.float32) / 255.0)[0], expected)


def test_mixed_list_of_paths_and_arrays(detector: Detector, coco_images: list[Path], photo: np.ndarray) -> None:
    path = coco_images[1]
    items = [path, photo, str(path)]
    batched = detector.predict(items, batch_size=3)  # one batch with a path and an array
    assert [r.source for r in batched] == [str(path), None, str(path)]
    assert [r.image_size for r in batched] == [cv2.imread(str(path)).shape[:2], photo.shape[:2], batched[0].image_size]
    assert all(len(r) > 0 for r in batched)
    # One at a time (batch shapes can change the last float bits): exactly the single-input results.
    singles = detector.predict(items, batch_size=1)
    assert same(singles[0], singles[2])
    assert same(singles[1], detector.predict(photo)[0])


@pytest.mark.parametrize("shape", [(1, 1, 3), (5000, 3, 3), (3, 5000, 3), (1, 700)], ids=["1x1", "tall", "wide", "line"])
def test_degenerate_shapes_do_not_crash(detector: Detector, shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    (result,) = detector.predict(image)
    assert result.image_size == shape[:2]
    assert np.isfinite(result.boxes.numpy().data).all()
    assert result.to_dict()["width"] == shape[1]


@pytest.mark.parametrize(
    "image, fragment",
    [
        (np.zeros((0, 5, 3), np.uint8), "empty image"),
        (np.zeros((5, 5, 2), np.uint8), "unsupported image shape"),
        (np.zeros((5, 5, 3), np.int32), "unsupported pixel type int32"),
        (np.full((5, 5, 3), 2.0), "float images must hold values in [0, 1]"),
    ],
    ids=["empty", "two-channels", "int32", "float-range"],
)
def test_unusable_arrays_are_refused(detector: Detector, image: np.ndarray, fragment: str) -> None:
    with pytest.raises(YoloxkitError) as info:
        detector.predict(image)
    assert fragment in str(info.value) and str(info.value).startswith("image #0")


def test_unreadable_paths_are_refused(detector: Detector, tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="image not found"):
        detector.predict(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(YoloxkitError, match="image file is empty"):
        detector.predict(tmp_path / "empty.jpg")
    with pytest.raises(YoloxkitError, match="got a folder"):
        detector.predict(tmp_path)


@pytest.mark.parametrize("command", ["predict", "eval", "benchmark", "serve", "export"])
def test_commands_that_load_a_detector_share_their_options(command: str) -> None:
    """One spelling and one help text for --weights, --model and --device everywhere (cli/options.py);
    export takes PyTorch weights only (it exports them), so it has its own --weights; predict and eval
    take several (an ensemble)."""
    import importlib
    import inspect

    from yoloxkit.cli import COMMANDS, options

    module_name, attribute, _ = COMMANDS[command]
    parameters = inspect.signature(getattr(importlib.import_module(f"yoloxkit.cli.{module_name}"), attribute)).parameters
    expected = {"export": options.PYTORCH_WEIGHTS, "predict": options.WEIGHTS_MANY, "eval": options.WEIGHTS_MANY}
    assert parameters["weights"].default is expected.get(command, options.WEIGHTS)
    assert parameters["model"].default is options.MODEL
    if "device" in parameters:
        assert parameters["device"].default is options.DEVICE
    if "legacy" in parameters:
        assert parameters["legacy"].default is options.LEGACY
