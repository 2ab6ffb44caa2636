"""Every model size exports and runs in ONNX Runtime like PyTorch (64x64 input, batch of 3)."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit.data.preprocess import preprocess_batch
from yoloxkit.export import ExportOptions, export_onnx, open_backend, read_onnx_metadata
from yoloxkit.models import list_models

from .conftest import conditioned_detector
from .test_onnx import assert_close, torch_outputs

BIG = {"yolox-m", "yolox-l", "yolox-x"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in list_models()]
)
def test_every_size_exports_with_parity(name, images, tmp_path):
    detector = conditioned_detector(name, size=64, num_classes=3)
    path = tmp_path / f"{name}.onnx"
    export_onnx(detector, path, ExportOptions(dynamic=True, simplify=False))
    assert read_onnx_metadata(path).model == name
    batch, _ = preprocess_batch(images[:3], detector.contract)
    got = open_backend(path).run(batch.numpy())[0]
    assert got.shape == (3, 64 + 16 + 4, 8)
    assert_close(got, torch_outputs(detector, batch))
    assert np.abs(got[0] - got[1]).max() > 1e-3
