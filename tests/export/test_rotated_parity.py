"""The rotated parity check's detection matching, the ``postprocess`` metadata and the exported
detector's default IoU (review findings on the rotated export)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from yoloxkit import Detector, YoloxkitError
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.export import TOLERANCES, ExportedDetector, ExportMetadata, ExportOptions, NMSSettings, ParityReport, export_model
from yoloxkit.export import rotated_parity
from yoloxkit.export.rotated_parity import compare_rotated_detections, unmatched_rows
from yoloxkit.export.metadata import HostPostprocess
from yoloxkit.ops import ROTATED_NMS_IOU

SETTINGS = HostPostprocess()


def grid_outputs(count: int = 40) -> torch.Tensor:
    """Decoded rotated outputs ``[1, count, 7]`` (one class) of well-separated boxes scoring 0.81."""
    outputs = torch.zeros(1, count, 7)
    for i in range(count):
        outputs[0, i] = torch.tensor([20.0 + 30 * (i % 10), 20.0 + 30 * (i // 10), 10, 6, 0.3, 0.9, 0.9])
    return outputs


def compare(got: torch.Tensor, expected: torch.Tensor) -> ParityReport:
    found = compare_rotated_detections(got, expected, SETTINGS, TOLERANCES["fp32"], "1")
    report = ParityReport("onnxruntime", "m.onnx", 1, ["1"], TOLERANCES["fp32"], detections=found.detections)
    report.unmatched, report.explained, report.failures = found.unmatched, found.explained, found.failures
    return report


def test_an_nms_swap_between_near_tied_boxes_passes():
    """Two overlapping boxes whose scores are 1e-6 apart: each side keeps the other one (one swap)."""
    expected = grid_outputs()
    expected[0, 1, :5] = torch.tensor([22.0, 20.0, 10, 6, 0.3])  # next to box 0, IoU 0.67
    expected[0, 1, 6] = 0.9 - 5e-7
    got = expected.clone()
    got[0, 1, 6] = 0.9 + 5e-7  # within 1e-4 of PyTorch: box 1 now wins over box 0
    report = compare(got, expected)
    assert report.passed, report.failures
    assert (report.detections, report.unmatched, report.explained) == (39, 0, 1)


def test_a_row_at_the_score_threshold_is_explained():
    expected = grid_outputs()
    expected[0, 3, 5:] = torch.tensor([0.1, SETTINGS.conf / 0.1 + 1e-6])  # just above 0.01
    got = expected.clone()
    got[0, 3, 6] -= 2e-6  # just below: dropped on the exported side only
    report = compare(got, expected)
    assert report.passed and (report.unmatched, report.explained) == (0, 1)


def test_unexplained_differences_are_counted_per_side_and_fail():
    expected = grid_outputs()
    got = expected.clone()
    got[0, :3, 5] = 0.5  # three rows' scores moved far (no counterpart, no swap, not at the threshold)
    report = compare(got, expected)
    assert not report.passed and (report.unmatched, report.explained) == (3, 0)
    assert "3 of 40 exported and 3 of 40 PyTorch detections" in report.failures[0]
    got = expected.clone()
    got[0, 0, 5] = 0.5  # one row: within the allowance of 1 + 1 % per side
    assert compare(got, expected).passed


def test_matching_in_blocks_gives_the_same_pairs(monkeypatch):
    rng = np.random.default_rng(0)
    want = np.concatenate([rng.uniform(0, 100, (300, 5)), rng.uniform(0.2, 1, (300, 2)), rng.integers(0, 3, (300, 1))], 1)
    rows = want[rng.permutation(300)[:250]].copy()
    rows[::7, 0] += 1.0  # moved: no counterpart
    whole = unmatched_rows(rows, want, TOLERANCES["fp32"])
    monkeypatch.setattr(rotated_parity, "MATCH_BLOCK_PAIRS", 1000)  # blocks of 4 PyTorch rows
    blocked = unmatched_rows(rows, want, TOLERANCES["fp32"])
    assert all(np.array_equal(a, b) for a, b in zip(whole, blocked))
    assert len(whole[0]) == len(rows[::7]) and len(whole[1]) == 300 - 250 + len(rows[::7])


def rotated_metadata(**postprocess) -> ExportMetadata:
    return ExportMetadata("rotated-yolox-nano", ("ship",), PreprocessContract((64, 64)), box_type="rbox",
                          postprocess=HostPostprocess(**postprocess) if postprocess else None)  # fmt: skip


def test_postprocess_metadata_is_read_back_and_checked():
    meta = rotated_metadata()
    assert meta.postprocess == HostPostprocess(0.01, 0.1)  # the reference's test settings by default
    strings = rotated_metadata(conf=0.05, iou=0.2).to_strings()
    assert json.loads(strings["postprocess"]) == {"nms": "rotated", "where": "host", "conf": 0.05, "iou": 0.2}
    assert ExportMetadata.from_strings(strings, "m.onnx").postprocess == HostPostprocess(0.05, 0.2)
    for key, value in (("nms", "hbb"), ("where", "graph")):
        bad = strings | {"postprocess": json.dumps(json.loads(strings["postprocess"]) | {key: value})}
        with pytest.raises(YoloxkitError, match=rf"^m\.onnx: postprocess {key} must be"):
            ExportMetadata.from_strings(bad, "m.onnx")
    with pytest.raises(YoloxkitError, match=r"^m\.onnx: damaged .*postprocess"):
        ExportMetadata.from_strings({k: v for k, v in strings.items() if k != "postprocess"}, "m.onnx")
    with pytest.raises(YoloxkitError, match=r"^m\.onnx: precision must be one of"):  # __post_init__ errors name the file
        ExportMetadata.from_strings(strings | {"precision": "fp8"}, "m.onnx")
    with pytest.raises(YoloxkitError, match="rotated exports only"):
        ExportMetadata("yolox-nano", ("a",), PreprocessContract((64, 64)), postprocess=HostPostprocess())


def test_default_iou_follows_the_file(tmp_path: Path):
    detector = Detector.untrained("yolox-nano", num_classes=2)
    detector.contract = PreprocessContract((64, 64))
    export_model(detector, tmp_path, "onnx", ExportOptions(nms=NMSSettings(conf=0.25, iou=0.5)), check=False, log=lambda _: None)
    exported = ExportedDetector.from_file(tmp_path / "yolox-nano.onnx", threads=1)
    assert exported.default_iou == 0.5
    image = np.zeros((64, 64, 3), np.uint8)
    (found,) = exported.predict(image)  # no iou given: the graph's own 0.5, not Detector's 0.45 ...
    assert found.image_size == (64, 64)
    with pytest.raises(YoloxkitError, match=r"iou 0\.5.*asked for conf 0\.25, iou 0\.45"):
        exported.predict(image, iou=0.45)  # ... which this graph cannot run: a default of 0.45 would fail
    rotated = SimpleNamespace(metadata=rotated_metadata(iou=0.3), path=Path("r.onnx"))
    assert ExportedDetector(rotated).default_iou == 0.3
    assert ExportedDetector(SimpleNamespace(metadata=rotated_metadata(), path=Path("r.onnx"))).default_iou == ROTATED_NMS_IOU
    plain = ExportMetadata("yolox-nano", ("a",), PreprocessContract((64, 64)))
    assert ExportedDetector(SimpleNamespace(metadata=plain, path=Path("p.onnx"))).default_iou == Detector.untrained("yolox-nano").default_iou
