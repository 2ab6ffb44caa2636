"""``yoloxkit serve``: the FastAPI app through TestClient, and the real command on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.reference import coco128_files
from yoloxkit import Detector
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.data.images import read_image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from yoloxkit.serve import create_app  # noqa: E402

SIZE = 64
MAX_BYTES = 50_000


@pytest.fixture(scope="module")
def detector() -> Detector:
    """A random yolox-nano at 64x64 (a low threshold below makes it detect something)."""
    torch.set_num_threads(1)
    det = Detector.untrained("yolox-nano")
    det.contract = PreprocessContract((SIZE, SIZE))
    return det


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COCO128 image re-encoded at 200 px wide (about 10 kB), so the size limits stay small."""
    files = coco128_files(1)
    if not files:
        pytest.skip("COCO128 images not found")
    image = cv2.imread(str(files[0]))
    small = cv2.resize(image, (200, round(200 * image.shape[0] / image.shape[1])))
    path = tmp_path_factory.mktemp("serve") / files[0].name
    cv2.imwrite(str(path), small)
    return path


@pytest.fixture(scope="module")
def client(detector: Detector) -> TestClient:
    return TestClient(create_app(detector, max_bytes=MAX_BYTES, conf=0.0001))


def test_predict_multipart_and_raw_give_the_detector_s_detections(client, detector, image_file):
    expected = detector.predict(read_image(image_file), conf=0.0001)[0].for_output()[0].to_dict()  # clipped to the image, as every shown output
    data = image_file.read_bytes()
    multipart = client.post("/predict", files={"file": (image_file.name, data, "image/jpeg")})
    raw = client.post("/predict", content=data, headers={"content-type": "image/jpeg"})
    assert multipart.status_code == raw.status_code == 200, multipart.text
    assert multipart.json() == expected | {"file": image_file.name}
    assert raw.json() == expected
    assert len(expected["detections"]) > 0
    strict = client.post("/predict?conf=0.9&iou=0.3&class_agnostic=true", content=data)
    assert strict.status_code == 200 and strict.json()["detections"] == []


def test_health_and_model(client, detector):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/model").json()
    assert info["model"] == "yolox-nano" and info["class_names"] == detector.class_names
    assert info["input_size"] == [SIZE, SIZE] and info["backend"] == "pytorch" and info["max_bytes"] == MAX_BYTES
    assert info["box_type"] == "hbb" and info["defaults"] == {"conf": 0.0001, "iou": 0.45}


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"content": b""}, 400, "empty image"),
        ({"content": b"not an image at all"}, 400, "cannot decode image"),
        ({"content": b"\xff\xd8\xff\xe0" + b"\x00" * 64, "headers": {"content-type": "image/jpeg"}}, 400, "cannot decode"),
        ({"content": b"x" * (MAX_BYTES + 1)}, 413, "exceeds the limit"),
        ({"content": b"{}", "headers": {"content-type": "application/json"}}, 415, "unsupported content type"),
        ({"data": {"name": "value"}, "files": {"other": ("x.jpg", b"")}}, 400, "empty image"),
        ({"data": {"name": "value"}}, 415, "unsupported content type"),
    ],
    ids=["empty", "not-image", "corrupt-jpeg", "too-large", "json", "empty-upload", "form-without-file"],
)
def test_bad_requests_get_clear_4xx(client, kwargs, status, message):
    response = client.post("/predict", **kwargs)
    assert response.status_code == status and message in response.json()["detail"], response.text


def test_too_large_streamed_body_is_refused_while_reading(client):
    chunks = (b"x" * 20_000 for _ in range(5))  # no Content-Length: chunked transfer
    response = client.post("/predict", content=chunks)
    assert response.status_code == 413 and "exceeds the limit" in response.json()["detail"]


@pytest.mark.parametrize("query", ["conf=2", "iou=-0.1", "conf=abc", "class_agnostic=maybe"])
def test_bad_query_parameters_get_422(client, image_file, query):
    response = client.post(f"/predict?{query}", content=image_file.read_bytes())
    assert response.status_code == 422
    assert query.split("=")[0] in response.json()["detail"]


def test_create_app_checks_its_arguments(detector):
    from yoloxkit.errors import YoloxkitError

    with pytest.raises(YoloxkitError, match="max_bytes"):
        create_app(detector, max_bytes=0)
    with pytest.raises(YoloxkitError, match="conf and iou"):
        create_app(detector, conf=1.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_yoloxkit_serve_answers_on_localhost(detector, image_file, tmp_path):
    checkpoint = tmp_path / "nano.pth"
    save_checkpoint(checkpoint, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict())
    port = _free_port()
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "yoloxkit", "serve", "-w", str(checkpoint), "--port", str(port),
               "--max-mb", "0.05", "--conf", "0.0001", "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(f"{base}/health") == (200, {"status": "ok"})
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {server.stdout.read() if server.poll() is not None else 'timeout'}")
                time.sleep(0.3)
        request = urllib.request.Request(f"{base}/predict", data=image_file.read_bytes(), headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert body == detector.predict(cv2.imread(str(image_file)), conf=0.0001)[0].for_output()[0].to_dict()
        too_large = urllib.request.Request(f"{base}/predict", data=np.zeros(60_000, np.uint8).tobytes())
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(too_large, timeout=30)
        assert error.value.code == 413
        assert _get(f"{base}/model")[1]["model"] == "yolox-nano"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serving_an_exported_model(detector, image_file, tmp_path):
    pytest.importorskip("onnxruntime")
    from yoloxkit.export import ExportedDetector, ExportOptions, export_model

    export_model(detector, tmp_path, "onnx", ExportOptions(), check=False, log=lambda _: None)
    exported = ExportedDetector.from_file(tmp_path / "yolox-nano.onnx", threads=1)
    client = TestClient(create_app(exported, conf=0.0001))
    info = client.get("/model").json()
    assert (info["backend"], info["precision"], info["file"]) == ("onnxruntime", "fp32", "yolox-nano.onnx")
    response = client.post("/predict", files={"file": ("a.jpg", image_file.read_bytes(), "image/jpeg")})
    assert response.json() == exported.predict(read_image(image_file), conf=0.0001)[0].for_output()[0].to_dict() | {"file": "a.jpg"}


def test_serving_a_rotated_exported_model(image_file, tmp_path):
    """A rotated model (exported, host-side rotated NMS) answers with rbox and polygon per detection."""
    pytest.importorskip("onnxruntime")
    from yoloxkit.export import ExportedDetector, ExportOptions, export_model

    rotated = Detector.untrained("rotated-yolox-nano", num_classes=2)
    rotated.contract = PreprocessContract((SIZE, SIZE))
    export_model(rotated, tmp_path, "onnx", ExportOptions(), check=False, log=lambda _: None)
    exported = ExportedDetector.from_file(tmp_path / "rotated-yolox-nano.onnx", threads=1)
    client = TestClient(create_app(exported, conf=0.0001))
    info = client.get("/model").json()
    assert info["box_type"] == "rbox" and info["defaults"] == {"conf": 0.0001, "iou": 0.1}
    response = client.post("/predict", content=image_file.read_bytes(), headers={"content-type": "image/jpeg"})
    detections = response.json()["detections"]
    assert response.status_code == 200 and len(detections) > 0
    assert len(detections[0]["rbox"]) == 5 and len(detections[0]["polygon"]) == 8
    assert response.json() == exported.predict(read_image(image_file), conf=0.0001)[0].for_output()[0].to_dict()
