"""Issue 13, parts 2-4: every bad input is one line on stderr naming the file and the cause, exit
status 2, no traceback and nothing lost; one bad image never sinks a run; no silent wrong results."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.imageheader import header_dimensions, set_max_pixels
from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.errors import YoloxkitError
from yoloxkit.models import create

from tests.cli_helpers import YOLOXKIT, bomb_png, one_line_error, run_cli, snapshot, write_png, yolo_dataset

NON_UTF8 = b"bad\xffname.png"


def _strict_json(path: Path) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


# ------------------------------------------------------------------------------ images


@pytest.mark.parametrize(
    "kind, fragment",
    [("bomb", "image too large"), ("corrupt", "cannot decode image"), ("empty", "image file is empty"),
     ("truncated-png", "cannot decode image"), ("text-named-jpg", "cannot decode image"), ("folder-named-png", "expected an image file")],
)  # fmt: skip
def test_predict_on_one_bad_image_is_one_line(kind, fragment, tmp_path, capfd, nano_checkpoint):
    path = tmp_path / ("image.jpg" if kind == "text-named-jpg" else "image.png")
    if kind == "bomb":
        bomb_png(path)
    elif kind == "corrupt":
        path.write_bytes(random.Random(0).randbytes(2000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated-png":
        path.write_bytes(write_png(tmp_path / "ok.png").read_bytes()[:60])
    elif kind == "text-named-jpg":
        path.write_text("not an image\n")
    else:
        path.mkdir()
    run = run_cli(capfd, "predict", path, "-w", nano_checkpoint, "--out", tmp_path / "out")
    if kind == "folder-named-png":  # a folder is a folder source: no images in it
        one_line_error(run, "no images")
    else:
        one_line_error(run, fragment, str(path))


def test_the_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    bomb = bomb_png(tmp_path / "b.png", 100_000, 100_000)
    assert header_dimensions(bomb.read_bytes()) == (100_000, 100_000)
    with pytest.raises(YoloxkitError, match="100000 x 100000 pixels"):
        read_image(bomb)
    small = write_png(tmp_path / "s.png", 80, 64)
    set_max_pixels(80 * 64 - 1)
    try:
        with pytest.raises(YoloxkitError, match="over the limit of 5,119"):
            read_image(small)
    finally:
        set_max_pixels(None)
    assert read_image(small).shape == (64, 80, 3)


def test_pixel_limit_from_the_environment(tmp_path, monkeypatch, capfd, nano_checkpoint):
    image = write_png(tmp_path / "a.png", 80, 64)
    monkeypatch.setenv("YOLOXKIT_MAX_PIXELS", "1000")
    one_line_error(run_cli(capfd, "predict", image, "-w", nano_checkpoint, "--out", tmp_path / "o"), "over the limit of 1,000")
    monkeypatch.setenv("YOLOXKIT_MAX_PIXELS", "lots")
    one_line_error(run_cli(capfd, "predict", image, "-w", nano_checkpoint, "--out", tmp_path / "o2"), "YOLOXKIT_MAX_PIXELS")


@pytest.mark.parametrize("fmt", ["jpg", "bmp", "webp", "tif"])
def test_header_dimensions_of_every_image_format(fmt, tmp_path):
    import cv2

    image = np.zeros((37, 53, 3), dtype=np.uint8)
    data = cv2.imencode(f".{fmt}", image)[1].tobytes()
    assert header_dimensions(data) == (53, 37)


def test_one_bad_image_does_not_sink_predict(tmp_path, capfd, nano_checkpoint):
    folder = tmp_path / "photos"
    for i in range(3):
        write_png(folder / f"ok{i}.png", seed=i)
    bomb_png(folder / "bomb.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 nothing")
    out = tmp_path / "out"
    run = run_cli(capfd, "predict", folder, "-w", nano_checkpoint, "--out", out)
    assert run.code == 0, run
    warnings = [line for line in run.err.splitlines() if line]
    assert len(warnings) == 2 and all(w.startswith("warning: skipped: ") for w in warnings), run.err
    assert "Traceback" not in run.err
    summary = _strict_json(out / "summary.json")
    assert summary["images"] == 3
    assert sorted(Path(s["file"]).name for s in summary["skipped"]) == ["bomb.png", "broken.jpg"]
    assert len(_strict_json(out / "predictions.json")) == 3
    assert sorted(p.name for p in (out / "images").iterdir()) == ["ok0.jpg", "ok1.jpg", "ok2.jpg"]
    assert "2 unreadable images skipped" in run.out


def test_strict_predict_stops_at_the_first_bad_image(tmp_path, capfd, nano_checkpoint):
    folder = tmp_path / "photos"
    write_png(folder / "a.png")
    (folder / "b.png").write_bytes(b"junk")
    one_line_error(run_cli(capfd, "predict", folder, "-w", nano_checkpoint, "--out", tmp_path / "o", "--strict"), str(folder / "b.png"))


def test_interrupted_predict_writes_the_images_done(tmp_path, capfd, nano_checkpoint, monkeypatch):
    from yoloxkit.detector import Detector

    folder = tmp_path / "photos"
    for i in range(5):
        write_png(folder / f"p{i}.png", seed=i)
    calls = {"n": 0}
    original = Detector.predict_arrays

    def interrupted_on_second_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Detector, "predict_arrays", interrupted_on_second_batch)
    out = tmp_path / "out"
    run = run_cli(capfd, "predict", folder, "-w", nano_checkpoint, "--out", out, "--batch", "2")
    assert run.code == 130
    assert "Traceback" not in run.err
    assert len(_strict_json(out / "predictions.json")) == 2
    assert _strict_json(out / "summary.json")["interrupted"] is True


def test_sigterm_during_predict_leaves_valid_outputs(tmp_path, nano_checkpoint):
    folder = tmp_path / "photos"
    for i in range(40):
        write_png(folder / f"p{i:02d}.png", 320, 240, seed=i)
    out = tmp_path / "out"
    process = subprocess.Popen([str(YOLOXKIT), "predict", str(folder), "-w", str(nano_checkpoint), "--out", str(out), "--batch", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "images").is_dir() or not any((out / "images").iterdir()):  # wait until it is predicting
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130), err  # 0 if it finished first
    assert "Traceback" not in err
    records = _strict_json(out / "predictions.json")
    assert 1 <= len(records) <= 40
    assert not list(out.rglob("*.part"))


def test_non_utf8_file_names_do_not_crash(tmp_path, nano_checkpoint):
    """OpenCV's imwrite/imread crash (SIGSEGV) on such names; yoloxkit never hands them a path."""
    folder = tmp_path / "photos"
    write_png(folder / "ok.png")
    write_png(folder / os.fsdecode(NON_UTF8))
    out = tmp_path / "out"
    proc = subprocess.run([str(YOLOXKIT), "predict", str(folder), "-w", str(nano_checkpoint), "--out", str(out), "--save-txt"],
                          capture_output=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(list((out / "images").iterdir())) == 2 and len(list((out / "labels").iterdir())) == 2
    records = json.loads((out / "predictions.json").read_bytes())
    assert len(records) == 2
    stats = subprocess.run([str(YOLOXKIT), "data", "stats", str(yolo_dataset(tmp_path / "ds", 1)), "--out", str(tmp_path / "st")],
                           capture_output=True, timeout=120)  # fmt: skip
    assert stats.returncode == 0, stats.stderr


def test_non_utf8_image_in_a_dataset_for_stats_and_check(tmp_path):
    data = yolo_dataset(tmp_path / "ds", 1)
    image = data / "images" / "train" / os.fsdecode(NON_UTF8)
    write_png(image)
    label = data / "labels" / "train" / os.fsdecode(b"bad\xffname.txt")
    label.write_text("0 0.5 0.5 0.3 0.3\n")
    for args in (["stats", str(data), "--out", str(tmp_path / "st"), "--samples", "4"], ["check", str(data)]):
        proc = subprocess.run([str(YOLOXKIT), "data", *args], capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert b"Traceback" not in proc.stderr


def test_non_utf8_video_name_is_one_line(tmp_path, capfd, nano_checkpoint):
    video = tmp_path / os.fsdecode(b"clip\xff.mp4")
    video.write_bytes(b"\0" * 100)
    one_line_error(run_cli(capfd, "predict", video, "-w", nano_checkpoint, "--out", tmp_path / "o"), "not valid UTF-8")


# ------------------------------------------------------------------------------ data commands


def test_data_check_reports_a_bomb_as_a_bad_image(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2)
    bomb_png(data / "images" / "train" / "train0.png")
    report = tmp_path / "check.json"
    run = run_cli(capfd, "data", "check", data, "--json", report)
    assert run.code == 1 and "Traceback" not in run.err
    found = json.loads(report.read_text())
    assert any("image too large" in f["message"] and f["file"].endswith("train0.png") for f in found["errors"]), found


@pytest.mark.parametrize("command", ["convert", "split", "stats"])
def test_data_commands_on_a_bomb_are_one_line_or_skip(command, tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2)
    bomb_png(data / "images" / "train" / "train0.png")
    args = {"convert": ["--to", "coco"], "split": ["--ratios", "0.5,0.5"], "stats": ["--samples", "8"]}[command]
    run = run_cli(capfd, "data", command, data, *args, "--out", tmp_path / "out")
    assert "Traceback" not in run.err
    if run.code:
        one_line_error(run, "train0.png")


def test_data_check_names_the_broken_coco_json(tmp_path, capfd):
    root = tmp_path / "coco"
    write_png(root / "train" / "a.png")
    write_png(root / "val" / "b.png")
    (root / "annotations").mkdir()
    good = {"images": [{"id": 1, "file_name": "b.png", "width": 80, "height": 64}], "annotations": [],
            "categories": [{"id": 1, "name": "thing"}]}  # fmt: skip
    (root / "annotations" / "instances_val.json").write_text(json.dumps(good))
    (root / "annotations" / "instances_train.json").write_text('{"images": [\n  {"id": 1,, }\n')
    report = tmp_path / "r.json"
    run = run_cli(capfd, "data", "check", root, "--json", report)
    assert run.code == 1 and "categories differ" not in run.out + run.err
    assert "invalid JSON" in run.err and "instances_train.json:2" in run.err, run.err


@pytest.mark.parametrize("ratios", ["0.7,0.7", "0.5,0.2", "1,1,1", "-0.5,1.5"])
def test_data_split_ratios_must_sum_to_one(ratios, tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds")
    one_line_error(run_cli(capfd, "data", "split", data, "--ratios", ratios, "--out", tmp_path / "s"), "sum to 1")
    assert not (tmp_path / "s").exists()


def test_data_synth_into_a_non_empty_folder_is_refused(tmp_path, capfd):
    out = tmp_path / "synth"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    one_line_error(run_cli(capfd, "data", "synth", "--out", out, "--images", "2"), "already holds files")
    assert (out / "mine.txt").read_text() == "x"


# ------------------------------------------------------------------------------ checkpoints and exports


def _weights(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pth"
    if kind == "nan":
        model = create("yolox-nano", 2)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
        save_checkpoint(path, model, "yolox-nano", ["a", "b"], PreprocessContract((64, 64)).to_dict())
    elif kind == "inf-one-tensor":
        state = create("yolox-nano", 80).state_dict()
        state["head.reg_preds.0.bias"][0] = float("inf")
        torch.save({"model": state}, path)
    elif kind == "random-bytes":
        path.write_bytes(random.Random(3).randbytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello\n")
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "no-yolox-keys":
        torch.save({"conv.weight": torch.zeros(3)}, path)
    return path


@pytest.mark.parametrize(
    "kind, fragment",
    [("nan", "non-finite weights"), ("inf-one-tensor", "head.reg_preds.0.bias"), ("random-bytes", "corrupt"),
     ("empty", "corrupt"), ("text", "corrupt"), ("list", "not a dict"), ("no-yolox-keys", "")],
)  # fmt: skip
def test_bad_checkpoints_are_one_line(kind, fragment, tmp_path, capfd):
    image = write_png(tmp_path / "a.png")
    weights = _weights(tmp_path, kind)
    message = one_line_error(run_cli(capfd, "predict", image, "-w", weights, "--out", tmp_path / "o"), fragment)
    assert str(weights) in message or kind == "no-yolox-keys"


@pytest.mark.parametrize("suffix", [".onnx", ".xml"])
@pytest.mark.parametrize("content", ["random", "empty", "truncated-xml"])
def test_corrupt_exported_models_are_one_line_without_library_noise(suffix, content, tmp_path, capfd):
    model = tmp_path / f"model{suffix}"
    model.write_bytes({"random": random.Random(1).randbytes(3000), "empty": b"", "truncated-xml": b"<?xml version='1.0'?><net name"}[content])
    image = write_png(tmp_path / "a.png")
    one_line_error(run_cli(capfd, "predict", image, "-w", model, "--out", tmp_path / "o"), str(model))


def test_export_with_corrupt_weights_is_one_line(tmp_path, capfd):
    weights = _weights(tmp_path, "random-bytes")
    one_line_error(run_cli(capfd, "export", "-w", weights, "--out", tmp_path / "x", "--no-check"), "corrupt")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


# ------------------------------------------------------------------------------ eval


@pytest.fixture(scope="module")
def one_class_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("one") / "nano1.pth"
    save_checkpoint(path, create("yolox-nano", 1), "yolox-nano", ["thing"], PreprocessContract((64, 64)).to_dict())
    return path


def test_eval_leaves_an_unreadable_image_out_and_says_so(tmp_path, capfd, one_class_checkpoint):
    """A COCO dataset (image sizes from the JSON): the broken image is met when it is decoded."""
    data = yolo_dataset(tmp_path / "yolo", 3)
    coco = tmp_path / "ds"
    assert run_cli(capfd, "data", "convert", data, "--to", "coco", "--out", coco).code == 0
    broken = next((coco / "val").glob("val1.*")) if (coco / "val").is_dir() else next(coco.rglob("val1.*"))
    broken.unlink()
    broken.write_bytes(b"\x89PNG broken")
    data = coco
    out = tmp_path / "eval"
    run = run_cli(capfd, "eval", "-w", one_class_checkpoint, "--data", data, "--out", out, "--no-plots")
    assert run.code == 0, run
    assert "warning: skipped (left out of the evaluation)" in run.err and "val1.png" in run.err
    metrics = _strict_json(out / "metrics.json")
    assert metrics["speed"]["skipped"][0]["file"].endswith("val1.png")
    strict = run_cli(capfd, "eval", "-w", one_class_checkpoint, "--data", data, "--strict")
    one_line_error(strict, "val1.png")


def test_eval_of_a_corrupt_predictions_file_is_one_line(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2)
    predictions = tmp_path / "p.json"
    predictions.write_text("[{\"image_id\": 1,")
    one_line_error(run_cli(capfd, "eval", "--predictions", predictions, "--data", data / "data.yaml"), str(predictions))


# ------------------------------------------------------------------------------ train


def _train(capfd, data: Path, out: Path, *extra: str):
    args = ["train", "--data", data, "--model", "yolox-nano", "--epochs", "1", "--batch", "2", "--size", "64",
            "--workers", "0", "--out", out, "--set", "log.progress=false", "--set", "log.plots=false", *extra]  # fmt: skip
    return run_cli(capfd, *args)


def test_train_without_any_object_is_refused(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2, labelled=False)
    one_line_error(_train(capfd, data / "data.yaml", tmp_path / "run"), "no labelled objects")


def test_train_without_a_labels_folder_is_refused(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2)
    for label in (data / "labels").rglob("*.txt"):
        label.unlink()
    (data / "labels" / "train").rmdir()
    (data / "labels" / "val").rmdir()
    (data / "labels").rmdir()
    one_line_error(_train(capfd, data / "data.yaml", tmp_path / "run"), "no labelled objects")


def test_train_warns_about_label_files_without_images(tmp_path, capfd, caplog):
    data = yolo_dataset(tmp_path / "ds", 2)
    (data / "labels" / "train" / "lost.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with caplog.at_level("WARNING", logger="yoloxkit"):
        run = _train(capfd, data / "data.yaml", tmp_path / "run")
    assert run.code == 0, run
    assert "1 label files have no image" in caplog.text + run.err


# ------------------------------------------------------------------------------ serve


@pytest.fixture()
def client(nano_checkpoint):
    from fastapi.testclient import TestClient

    from yoloxkit import Detector
    from yoloxkit.serve import create_app

    return TestClient(create_app(Detector.from_checkpoint(nano_checkpoint), max_pixels=4_000_000))


def test_serve_refuses_a_pixel_bomb_with_413(client, tmp_path):
    bomb = bomb_png(tmp_path / "b.png", 16_000, 16_000).read_bytes()
    response = client.post("/predict", content=bomb, headers={"content-type": "image/png"})
    assert response.status_code == 413
    assert "16000 x 16000" in response.json()["detail"]


@pytest.mark.parametrize("body, status", [(b"", 400), (b"garbage bytes", 400), (b"\x89PNG\r\n\x1a\n", 400)])
def test_serve_answers_bad_images_with_4xx(client, body, status):
    response = client.post("/predict", content=body, headers={"content-type": "image/png"})
    assert response.status_code == status
    assert "detail" in response.json()


def test_serve_reports_a_busy_port_in_one_line(tmp_path, capfd, nano_checkpoint):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_line_error(run_cli(capfd, "serve", "-w", nano_checkpoint, "--port", port), f"127.0.0.1:{port}")


# ------------------------------------------------------------------------------ disk cache


@pytest.mark.parametrize("damage", ["data-cut-short", "index-cut-short", "index-wrong-counts"])
def test_a_damaged_disk_cache_is_rebuilt_with_a_warning(damage, tmp_path, caplog):
    from yoloxkit.datasets import load_dataset
    from yoloxkit.loader.badimages import BadImageLog
    from yoloxkit.loader.cache import build_store
    from yoloxkit.loader.records import TrainRecords

    data = yolo_dataset(tmp_path / "ds", 3)
    records = TrainRecords.from_split(load_dataset(data / "data.yaml"), "train", (64, 64))
    cache = tmp_path / "cache"
    first = build_store(records, "disk", BadImageLog(), cache_dir=cache)
    expected = [first.get(i).copy() for i in range(len(records))]
    data_file = next(cache.glob("*.bin"))
    index_file = data_file.with_suffix(".json")
    if damage == "data-cut-short":
        data_file.write_bytes(data_file.read_bytes()[:100])
    elif damage == "index-cut-short":
        index_file.write_text(index_file.read_text()[:10])
    else:
        index_file.write_text(json.dumps({"images": 99, "bytes": 5, "bad": {}}))
    with caplog.at_level("WARNING"):
        again = build_store(records, "disk", BadImageLog(), cache_dir=cache)
    assert "is damaged" in caplog.text and "rebuilding" in caplog.text
    assert all(np.array_equal(again.get(i), e) for i, e in enumerate(expected))
