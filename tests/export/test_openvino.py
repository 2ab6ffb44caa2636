"""OpenVINO IR converted from the ONNX export: FP32 parity, FP16 weights, metadata, predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yoloxkit import Detector
from yoloxkit.data.preprocess import preprocess_batch
from yoloxkit.export import ExportedDetector, ExportOptions, NMSSettings, export_model, open_backend
from yoloxkit.export.parity import TOLERANCES

from .test_onnx import assert_close, torch_outputs


def quiet(_: str) -> None:
    """Swallow export_model's progress lines."""


@pytest.fixture(scope="module")
def ir_paths(detector: Detector, images, export_dir: Path) -> dict[str, Path]:
    """FP32 and FP16 IRs (dynamic, decoded) and an FP32 IR with NMS; the FP32 ones parity checked on export."""
    paths = {}
    for name, options in {
        "fp32": ExportOptions(dynamic=True),
        "fp16": ExportOptions(dynamic=True, precision="fp16", simplify=False),
        "nms": ExportOptions(dynamic=True, nms=NMSSettings(max_candidates=500)),
    }.items():
        check = name != "fp16"  # tested below at its own tolerance
        result = export_model(
            detector, export_dir / f"ov_{name}", "openvino", options, check=check, images=images[:3], log=quiet
        )
        assert len(result.parity) == 2 * check and all(report.passed for report in result.parity)
        paths[name] = result.files[1]
    return paths


@pytest.mark.parametrize("indices", [[0], [1, 2, 3]], ids=["batch1", "batch3"])
def test_openvino_fp32_matches_pytorch(detector, ir_paths, images, indices):
    batch, _ = preprocess_batch([images[i] for i in indices], detector.contract)
    assert_close(open_backend(ir_paths["fp32"]).run(batch.numpy())[0], torch_outputs(detector, batch))


def test_openvino_fp16_weights_within_fp16_tolerance(detector, ir_paths, images):
    backend = open_backend(ir_paths["fp16"])
    assert backend.metadata.precision == "fp16"
    batch, _ = preprocess_batch(images[:3], detector.contract)
    got, expected = backend.run(batch.numpy())[0], torch_outputs(detector, batch)
    assert np.abs(got[..., 4:] - expected[..., 4:]).max() <= TOLERANCES["fp16"].prob_atol
    assert not np.array_equal(got, expected)  # the weights really were rounded
    assert ir_paths["fp16"].with_suffix(".bin").stat().st_size < 0.6 * ir_paths["fp32"].with_suffix(".bin").stat().st_size


def test_ir_metadata_round_trips(detector, ir_paths):
    meta = open_backend(ir_paths["nms"]).metadata
    assert (meta.model, meta.outputs, meta.dynamic) == ("yolox-nano", "nms", True)
    assert list(meta.class_names) == detector.class_names and meta.contract == detector.contract
    assert meta.nms == NMSSettings(max_candidates=500)


def test_predict_via_openvino(detector, ir_paths, images):
    for key in ("fp32", "nms"):
        exported = ExportedDetector.from_file(ir_paths[key])
        for a, b in zip(detector.predict(images), exported.predict(images, batch_size=4)):
            assert len(a) == len(b)
            np.testing.assert_array_equal(a.class_ids, b.class_ids)
            np.testing.assert_allclose(b.boxes.data, a.boxes.data, rtol=1e-4, atol=1e-3)
