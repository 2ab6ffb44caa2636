"""Rotated YOLOX exported to ONNX / OpenVINO: decoded rbox outputs, rotated metadata, host rotated
NMS, and predict / sliced predict / DOTA-rule eval through the exported file as with the .pt."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.export.conftest import conditioned_detector
from tests.export.test_cli import run
from tests.reference import COCO128_IMAGES
from yoloxkit import Detector, YoloxkitError
from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.cli import main
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.export import ExportedDetector, ExportMetadata, ExportOptions, NMSSettings, export_model, read_onnx_metadata
from yoloxkit.export.graph import ExportModule
from yoloxkit.structures import BoxFormat

CLASSES = ["plane", "ship", "vehicle"]
TOL = 1e-4


def angle_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| modulo pi (the le90 wrap may put the same rectangle at -pi/2 and just below pi/2)."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)) % math.pi
    return np.minimum(diff, math.pi - diff)


def synth(folder: Path, count: int) -> Path:
    """A synthetic oriented dataset (polygon labels) of ``count`` 128x128 images with the test's 3 classes."""
    try:
        main(["data", "synth", "--out", str(folder), "--images", str(count), "--classes", "3", "--size", "128", "--rotated"])
    except SystemExit as exc:
        assert not exc.code
    return folder


@pytest.fixture(scope="module")
def rotated() -> Detector:
    """A conditioned rotated-yolox-nano (3 classes, 128x128) whose angles spread around the le90 wrap.

    The angle convs get a larger gain and a bias of -pi/2, so the raw angles straddle -pi/2 and
    the decoded ones cover both ends of [-pi/2, pi/2).
    """
    detector = conditioned_detector("rotated-yolox-nano", num_classes=len(CLASSES))
    with torch.no_grad():
        for conv in detector.model.head.ang_preds:
            conv.weight.mul_(3.0)
            conv.bias.fill_(-math.pi / 2)
    detector.class_names = list(CLASSES)
    return detector


@pytest.fixture(scope="module")
def checkpoint(rotated: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rotated-ckpt") / "rotated.pt"
    save_checkpoint(path, rotated.model, rotated.model_name, rotated.class_names, rotated.contract.to_dict())
    return path


@pytest.fixture(scope="module")
def onnx_export(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``yoloxkit export`` of the checkpoint: dynamic ONNX, parity checked on 3 COCO128 images."""
    out = tmp_path_factory.mktemp("rotated-onnx")
    try:
        main(["export", "-w", str(checkpoint), "--format", "onnx", "--dynamic", "--out", str(out),
              "--check-images", str(COCO128_IMAGES), "--check-count", "3"])  # fmt: skip
    except SystemExit as exc:
        assert not exc.code
    return out / "rotated-yolox-nano.onnx", (out / "export.json").read_text()


def test_export_writes_rotated_outputs_equal_to_pytorch(rotated, onnx_export, images):
    path, report = onnx_export
    parity = json.loads(report)["parity"][0]
    assert parity["passed"] and parity["detections"] > 0  # final detections compared after host rotated NMS
    assert set(parity["max_abs"]) == {"boxes", "angles", "probabilities"}
    exported = ExportedDetector.from_file(path)
    for contract in (rotated.contract, PreprocessContract((96, 64))):
        batch, _ = preprocess_batch(images[:3], contract)
        got = exported.backend.run(batch.numpy())[0]
        with torch.no_grad():
            expected = ExportModule(rotated.model).eval()(batch).numpy()
        assert got.shape == expected.shape and got.shape[-1] == 6 + len(CLASSES)
        assert (np.abs(got[..., :4] - expected[..., :4]) <= TOL * np.maximum(np.abs(expected[..., :4]), 1)).all()
        assert angle_gap(got[..., 4], expected[..., 4]).max() <= TOL
        assert np.abs(got[..., 5:] - expected[..., 5:]).max() <= TOL
    # The test model's angles cover both ends of the le90 range (the wrap is exercised).
    assert expected[..., 4].min() < -1.4 and expected[..., 4].max() > 1.4


def test_metadata_says_rotated(onnx_export):
    path, _ = onnx_export
    meta = read_onnx_metadata(path)
    assert meta.rotated and meta.box_type == "rbox" and meta.outputs == "decoded" and meta.nms is None
    assert list(meta.class_names) == CLASSES and meta.input_size == (128, 128) and meta.dynamic
    strings = meta.to_strings()
    assert strings["format_version"] == "2" and strings["angle_version"] == "le90"
    assert json.loads(strings["postprocess"]) == {"nms": "rotated", "where": "host", "conf": 0.01, "iou": 0.1}
    assert (meta.postprocess.conf, meta.postprocess.iou) == (0.01, 0.1)  # read back from the file
    # Axis-aligned exports keep version 1 and their keys.
    plain = ExportMetadata("yolox-nano", ("a",), PreprocessContract((64, 64))).to_strings()
    assert plain["format_version"] == "1" and "box_type" not in plain
    with pytest.raises(YoloxkitError, match="le90"):
        ExportMetadata.from_strings(strings | {"angle_version": "oc"}, "m.onnx")


def assert_same_detections(got, expected) -> int:
    """Same rotated detections (count, classes, rboxes, scores); returns how many."""
    total = 0
    for a, b in zip(got, expected):
        assert a.boxes.format == BoxFormat.RBOX and len(a) == len(b)
        assert np.array_equal(a.class_ids, b.class_ids)
        assert np.allclose(a.boxes.data[:, :4], b.boxes.data[:, :4], rtol=TOL, atol=TOL * 10)
        assert angle_gap(a.boxes.data[:, 4], b.boxes.data[:, 4]).max(initial=0) <= TOL
        assert np.allclose(a.scores, b.scores, atol=TOL)
        total += len(a)
    return total


def test_exported_detector_predicts_like_pytorch(rotated, onnx_export, images):
    exported = ExportedDetector.from_file(onnx_path := onnx_export[0])
    assert exported.rotated and repr(exported).startswith("ExportedDetector(rotated-yolox-nano")
    got = exported.predict(images[:4], conf=0.01, iou=0.1, batch_size=3)
    assert assert_same_detections(got, rotated.predict(images[:4], conf=0.01, iou=0.1, batch_size=3)) > 20
    with pytest.raises(YoloxkitError, match="exported model"):
        ExportedDetector.from_file(onnx_path).model  # noqa: B018 (the property raises)


def test_cli_predict_slice_and_eval_with_the_onnx_file(capsys, checkpoint, onnx_export, tmp_path):
    onnx_path = onnx_export[0]
    records = {}
    for weights in (checkpoint, onnx_path):
        out = tmp_path / weights.suffix[1:]
        code, _, err = run(capsys, "predict", COCO128_IMAGES / "0000000000[0-3]*.jpg", "-w", weights, "--out", out, "--conf", 0.2)
        assert code == 0, err
        records[weights.suffix] = json.loads((out / "predictions.json").read_text())
        assert len(list((out / "images").glob("*.jpg"))) == len(records[weights.suffix])  # drawn polygons
    assert sum(len(r["detections"]) for r in records[".onnx"]) > 10
    for a, b in zip(records[".pt"], records[".onnx"]):
        assert [d["class_id"] for d in a["detections"]] == [d["class_id"] for d in b["detections"]]
        assert all(len(d["rbox"]) == 5 and len(d["polygon"]) == 8 for d in b["detections"])
        for da, db in zip(a["detections"], b["detections"]):
            assert np.allclose(da["polygon"], db["polygon"], atol=1e-2)
    # Sliced prediction runs the exported model tile by tile. (Not compared with PyTorch's: on this
    # random model many tile detections saturate at score 1.0, and greedy NMS among exact ties
    # follows 1e-6 differences; the unsliced detections above are the comparison.)
    code, _, err = run(capsys, "predict", COCO128_IMAGES / "000000000009.jpg", "-w", onnx_path, "--out", tmp_path / "sliced",
                       "--conf", 0.3, "--slice", 128, "--slice-gap", 32)  # fmt: skip
    assert code == 0, err
    (record,) = json.loads((tmp_path / "sliced" / "predictions.json").read_text())
    assert (record["width"], record["height"]) == (640, 480) and len(record["detections"]) > 10
    assert max(d["rbox"][0] for d in record["detections"]) > 256  # detections from tiles beyond the first
    assert all(len(d["polygon"]) == 8 for d in record["detections"])
    # yoloxkit eval on an oriented dataset: the DOTA rules through the exported model, as with the .pt
    data = synth(tmp_path / "synth", 6)
    metrics = {}
    for weights in (checkpoint, onnx_path):
        code, _, err = run(capsys, "eval", "-w", weights, "--data", data, "--out", tmp_path / f"eval{weights.suffix}")
        assert code == 0, err
        metrics[weights.suffix] = json.loads((tmp_path / f"eval{weights.suffix}" / "metrics.json").read_text())
    assert metrics[".onnx"]["AP50"] == pytest.approx(metrics[".pt"]["AP50"], abs=1e-9)
    assert metrics[".onnx"]["mAP"] == pytest.approx(metrics[".pt"]["mAP"], abs=1e-9)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_export_and_predict(rotated, images, tmp_path):
    result = export_model(rotated, tmp_path, "openvino", ExportOptions(batch=2), images=images[:2], log=lambda _: None)
    assert [r.passed for r in result.parity] == [True, True] and result.metadata.rotated
    exported = ExportedDetector.from_file(tmp_path / "rotated-yolox-nano.xml")
    assert exported.backend.kind == "openvino" and exported.backend.metadata.rotated
    got = exported.predict(images[:3], conf=0.01, iou=0.1)  # 3 images through a static batch of 2
    assert assert_same_detections(got, rotated.predict(images[:3], conf=0.01, iou=0.1)) > 10


def test_unsupported_options_are_refused(capsys, rotated, checkpoint, tmp_path):
    with pytest.raises(YoloxkitError, match="rotated models are exported without NMS in the graph"):
        export_model(rotated, tmp_path, "onnx", ExportOptions(nms=NMSSettings()), check=False, log=lambda _: None)
    code, _, err = run(capsys, "export", "-w", checkpoint, "--nms", "--out", tmp_path / "cli")
    assert code == 2 and "drop --nms" in err
    raw = export_model(rotated, tmp_path / "raw", "onnx", ExportOptions(decode=False), images=[np.zeros((64, 64, 3), np.uint8)], log=lambda _: None)
    assert raw.parity[0].passed and set(raw.parity[0].max_abs) == {"regression", "probabilities"}
    with pytest.raises(YoloxkitError, match=r"decoded \[B, N, 6 \+ C\]"):
        ExportedDetector.from_file(raw.files[0]).predict(np.zeros((64, 64, 3), np.uint8))


def self_labelled(folder: Path, detector: Detector, images: list[np.ndarray], score: float = 0.2) -> Path:
    """An oriented dataset (split ``train``) whose ground truth is ``detector``'s own detections scoring
    >= ``score``: its DOTA-rule mAP is exactly 1.0 (every such detection is a perfect match, ranked
    above every lower-scoring false positive), so an mAP gate on it measures the export's changes."""
    (folder / "train").mkdir(parents=True)
    (folder / "annotations").mkdir()
    records, labels = [], []
    for index, (image, found) in enumerate(zip(images, detector.predict(images, conf=score, iou=0.1))):
        cv2.imwrite(str(folder / "train" / f"{index}.png"), image)
        records.append({"id": index + 1, "file_name": f"{index}.png", "width": image.shape[1], "height": image.shape[0]})
        quads, xywh = found.boxes.convert(BoxFormat.QBOX).tolist(), found.boxes.convert(BoxFormat.XYWH).tolist()
        for quad, box, class_id in zip(quads, xywh, found.class_ids.tolist()):
            labels.append({"id": len(labels) + 1, "image_id": index + 1, "category_id": class_id + 1, "bbox": box,
                           "area": box[2] * box[3], "iscrowd": 0, "segmentation": [quad]})  # fmt: skip
    assert len(labels) >= 20
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(detector.class_names)]
    coco = {"info": {"box_format": "qbox"}, "images": records, "annotations": labels, "categories": categories}
    (folder / "annotations" / "instances_train.json").write_text(json.dumps(coco))
    return folder


@pytest.mark.slow
def test_reduced_precisions_pass_their_checks(rotated, images, tmp_path):
    """fp16 by element-wise parity (angles modulo pi, box tolerance) and the DOTA-rule mAP gate; the
    gate on a dataset labelled with the fp32 model's own detections (mAP 1.0) is not trivial: it
    passes fp16 and refuses this random model's int8 export (its quantised scores reorder detections)."""
    data = self_labelled(tmp_path / "self", rotated, images)
    half = export_model(rotated, tmp_path / "fp16", "onnx", ExportOptions(precision="fp16"), images=images[:2], data=data,
                        split="train", log=lambda _: None)  # fmt: skip
    assert half.parity[0].passed and half.parity[0].max_abs["angles"] <= 0.1  # measured 0.06 rad (FP16 inside)
    (gate,) = half.map
    assert gate.passed and gate.ap_pytorch == pytest.approx(1.0) and gate.ap_exported >= 1.0 - gate.tolerance
    with pytest.raises(YoloxkitError, match=r"mAP rotated-yolox-nano.onnx: PyTorch 1.0000, exported 0\.\d+.*drop 0.015\): FAIL"):
        export_model(rotated, tmp_path / "int8", "onnx", ExportOptions(precision="int8"), images=images[:2], data=data,
                     split="train", calibration=images[:4], log=lambda _: None)  # fmt: skip
    assert not list((tmp_path / "int8").glob("*.onnx"))  # a failed gate removes the model files
