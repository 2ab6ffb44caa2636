"""NMS in the graph: eager and ONNX Runtime results equal yoloxkit's postprocess row for row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yoloxkit import Detector, YoloxkitError
from yoloxkit.data.preprocess import preprocess_batch
from yoloxkit.export import ExportedDetector, ExportOptions, NMSSettings, check_parity, export_onnx, open_backend
from yoloxkit.export.graph import ExportModule
from yoloxkit.export.nms import GraphNMS
from yoloxkit.ops import postprocess

TOL = 1e-4


def decoded(batch: int, anchors: int, classes: int, seed: int) -> torch.Tensor:
    """Random decoded outputs with overlapping boxes and exact score ties (saturated probabilities)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(batch, anchors, 2, generator=g) * 100
    sizes = torch.rand(batch, anchors, 2, generator=g) * 30 + 2
    probs = torch.rand(batch, anchors, 1 + classes, generator=g)
    probs[:, :6] = 1.0  # six anchors tie at score 1 in every class
    return torch.cat([centres, sizes, probs], -1)


def expected_rows(outputs: torch.Tensor, s: NMSSettings) -> list[np.ndarray]:
    return [r[: s.max_det].numpy() for r in postprocess(outputs, s.conf, s.iou, s.class_agnostic)]


def assert_same_rows(detections: np.ndarray, counts: np.ndarray, expected: list[np.ndarray]) -> None:
    for rows, count, want in zip(detections, counts, expected):
        assert int(count) == len(want)
        np.testing.assert_array_equal(rows[: len(want)], want)
        assert not rows[len(want) :].any()


@pytest.mark.parametrize("agnostic", [False, True], ids=["class-aware", "agnostic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eager_graph_nms_equals_postprocess(agnostic, seed):
    settings = NMSSettings(conf=0.3, iou=0.45, class_agnostic=agnostic, max_det=50, max_candidates=400)
    outputs = decoded(3, 300, 4, seed)
    detections, counts = GraphNMS(settings)(outputs)
    assert_same_rows(detections.numpy(), counts.numpy(), expected_rows(outputs, settings))


def test_more_candidates_than_max_candidates_gives_an_exact_prefix():
    """Candidates cut at the lowest scores cannot suppress higher ones: the rows kept are exact."""
    settings = NMSSettings(conf=0.05, iou=0.45, max_det=200, max_candidates=200)
    outputs = decoded(2, 2000, 3, 3)
    detections, counts = GraphNMS(settings)(outputs)
    for rows, count, want in zip(detections.numpy(), counts.numpy(), expected_rows(outputs, settings)):
        assert 0 < count < len(want)
        np.testing.assert_array_equal(rows[:count], want[:count])


def test_settings_are_validated():
    with pytest.raises(YoloxkitError, match="max_det <= max_candidates"):
        NMSSettings(max_det=10, max_candidates=5)
    with pytest.raises(YoloxkitError, match="conf and iou"):
        NMSSettings(conf=1.5)


@pytest.fixture(scope="module")
def settings() -> NMSSettings:
    return NMSSettings(conf=0.25, iou=0.45, max_det=100, max_candidates=500)


@pytest.fixture(scope="module")
def nms_path(detector: Detector, settings: NMSSettings, export_dir: Path) -> Path:
    path = export_dir / "nms.onnx"
    export_onnx(detector, path, ExportOptions(dynamic=True, nms=settings))
    return path


@pytest.mark.parametrize("indices", [[0], [0, 3, 5]], ids=["batch1", "batch3"])
def test_onnxruntime_nms_equals_postprocess_of_pytorch(detector, settings, nms_path, images, indices):
    batch, _ = preprocess_batch([images[i] for i in indices], detector.contract)
    detections, counts = open_backend(nms_path).run(batch.numpy())
    assert detections.shape == (len(indices), settings.max_det, 7) and counts.dtype == np.int64
    with torch.no_grad():
        outputs = ExportModule(detector.model).eval()(batch)
    expected = expected_rows(outputs, settings)
    assert sum(map(len, expected)) > 20
    for rows, count, want in zip(detections, counts, expected):
        assert int(count) == len(want)
        np.testing.assert_array_equal(rows[:count, 6], want[:, 6])
        assert np.abs(rows[:count, 4:6] - want[:, 4:6]).max(initial=0) <= TOL
        assert (np.abs(rows[:count, :4] - want[:, :4]) <= TOL * np.maximum(np.abs(want[:, :4]), 1)).all()
        assert not rows[count:].any()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript-based exporter's notice
def test_onnxruntime_nms_is_exact_on_the_same_decoded_input(settings, export_dir):
    """The graph NMS alone, exported: bit-identical to postprocess, ties included."""
    path = export_dir / "nms_only.onnx"
    module = GraphNMS(settings).eval()
    sample = decoded(2, 400, 5, 0)
    torch.onnx.export(
        module, (sample,), str(path), dynamo=False, opset_version=17, input_names=["outputs"],
        output_names=["detections", "num_detections"], dynamic_axes={"outputs": {0: "batch", 1: "anchors"}},
    )  # fmt: skip
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, anchors, seed in [(1, 50, 1), (3, 400, 2), (2, 900, 3)]:
        outputs = decoded(batch, anchors, 5, seed)
        detections, counts = session.run(None, {"outputs": outputs.numpy()})
        assert_same_rows(detections, counts, expected_rows(outputs, settings))


def test_nms_parity_report(detector, nms_path, images):
    report = check_parity(detector, open_backend(nms_path), images[:4])
    assert report.passed, report.summary()
    assert report.detections > 20


def test_predict_with_nms_graph(detector, nms_path, images):
    exported = ExportedDetector.from_file(nms_path)
    for a, b in zip(detector.predict(images), exported.predict(images)):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(b.boxes.data, a.boxes.data, rtol=1e-4, atol=1e-3)
    # A higher score threshold filters the graph's rows: the same as NMS at that threshold.
    for a, b in zip(detector.predict(images, conf=0.4), exported.predict(images, conf=0.4)):
        assert len(a) == len(b)
    with pytest.raises(YoloxkitError, match="export again"):
        exported.predict(images[0], iou=0.6)
    with pytest.raises(YoloxkitError, match="export again"):
        exported.predict(images[0], conf=0.1)
