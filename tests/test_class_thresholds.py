"""Per-class score thresholds stored with a model: postprocess applies them before NMS, the
Detector uses them when no conf is given, and ``yoloxkit thresholds set|show`` and ``predict``
carry them from an evaluation's thresholds.json to the predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli_helpers import one_line_error, run_cli
from yoloxkit import Detector
from yoloxkit.ops import postprocess


def decoded(seed: int = 0, classes: int = 4, points: int = 300) -> torch.Tensor:
    """Random decoded outputs ``[2, N, 5 + C]``: clustered boxes (NMS has work), spread scores."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(2, points, 2, generator=g) * 60
    sizes = 10 + torch.rand(2, points, 2, generator=g) * 20
    probs = torch.rand(2, points, 1 + classes, generator=g)
    return torch.cat([centres, sizes, probs], -1)


@pytest.mark.parametrize("agnostic", [False, True])
def test_per_class_thresholds_act_as_dropping_candidates_before_nms(agnostic: bool) -> None:
    outputs, thresholds = decoded(), torch.tensor([0.1, 0.3, 0.5, 0.7])
    got = postprocess(outputs, thresholds, 0.5, agnostic)
    best_prob, best_class = outputs[..., 5:].max(-1)
    below = outputs[..., 4] * best_prob < thresholds[best_class]
    expected = postprocess(torch.where(below[..., None], torch.zeros_like(outputs), outputs), 1e-12, 0.5, agnostic)
    for rows, want in zip(got, expected):
        torch.testing.assert_close(rows, want)
        assert len(rows) and bool((rows[:, 4] * rows[:, 5] >= thresholds[rows[:, 6].long()]).all())


def test_one_value_is_unchanged_and_class_aware_nms_equals_filtering_afterwards() -> None:
    outputs, thresholds = decoded(1), torch.tensor([0.2, 0.6, 0.3, 0.45])
    low = postprocess(outputs, float(thresholds.min()), 0.5)
    for rows, everything in zip(postprocess(outputs, thresholds, 0.5), low):
        keep = everything[:, 4] * everything[:, 5] >= thresholds[everything[:, 6].long()]
        torch.testing.assert_close(rows, everything[keep])


@pytest.fixture(scope="module")
def tuned(nano_checkpoint: Path, coco_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The fixture checkpoint with thresholds for three classes (set through the CLI)."""
    folder = tmp_path_factory.mktemp("thresholds")
    chosen = {"person": 0.4, "car": 0.35, "dog": 0.9}
    (folder / "thresholds.json").write_text(json.dumps({"criterion": "f1", "thresholds": chosen}))
    with pytest.MonkeyPatch.context():
        from yoloxkit.cli import main

        with pytest.raises(SystemExit) as done:
            main(["thresholds", "set", str(nano_checkpoint), str(folder / "thresholds.json"), "--out", str(folder / "tuned.pt")])
    assert done.value.code in (0, None)
    return folder / "tuned.pt", chosen


def test_the_detector_applies_stored_thresholds_without_conf(tuned: tuple[Path, dict], coco_images: list[Path]) -> None:
    path, chosen = tuned
    detector = Detector.from_checkpoint(path)
    assert detector.class_conf == chosen
    stored = detector.predict(coco_images[:4], conf=None)
    everything = detector.predict(coco_images[:4], conf=0.0)
    limits = np.array([chosen.get(name, 0.25) for name in detector.class_names])
    kept_somewhere = 0
    for mine, allof in zip(stored, everything):
        keep = allof.scores >= limits[allof.class_ids]
        np.testing.assert_array_equal(mine.class_ids, allof.class_ids[keep])
        np.testing.assert_allclose(mine.scores, allof.scores[keep])
        kept_somewhere += len(mine)
    assert kept_somewhere > 0
    assert detector.score_threshold(0.3) == 0.3  # an explicit conf overrides the stored ones


def test_show_set_errors_and_predict(tuned: tuple[Path, dict], nano_checkpoint: Path, coco_images: list[Path], tmp_path: Path, capsys) -> None:
    path, chosen = tuned
    shown = run_cli(capsys, "thresholds", "show", path)
    assert shown.code == 0 and "dog                      0.9000" in shown.out and "0.25 (default)" in shown.out
    assert "no per-class thresholds" in run_cli(capsys, "thresholds", "show", nano_checkpoint).out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"thresholds": {"unicorn": 0.5}}))
    one_line_error(run_cli(capsys, "thresholds", "set", nano_checkpoint, bad, "--out", tmp_path / "x.pt"), "unicorn")
    one_line_error(run_cli(capsys, "thresholds", "set", nano_checkpoint, bad, "--out", path), "already exists")
    one_line_error(run_cli(capsys, "thresholds", "set", nano_checkpoint, bad, "--out", nano_checkpoint), "input")
    predicted = run_cli(capsys, "predict", coco_images[0], "-w", path, "--out", tmp_path / "pred", "--no-draw")
    assert predicted.code == 0 and "per-class thresholds (3 classes" in predicted.out
    records = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert sum(len(record["detections"]) for record in records) > 0
    for record in records:
        for det in record["detections"]:
            assert det["score"] >= chosen.get(det["class_name"], 0.25) - 1e-6


@pytest.mark.parametrize("nms", [False, True])
def test_exports_carry_the_thresholds_and_predict_the_same(tuned: tuple[Path, dict], coco_images: list[Path], tmp_path: Path, nms: bool) -> None:
    from yoloxkit.export import ExportedDetector, ExportOptions, NMSSettings, export_model

    path, chosen = tuned
    detector = Detector.from_checkpoint(path)
    settings = NMSSettings(conf=0.05, max_det=1000, max_candidates=5000)  # below every threshold, no cap reached
    options = ExportOptions(dynamic=True, nms=settings if nms else None)
    export_model(detector, tmp_path, "onnx", options, check=False, log=lambda _: None)
    exported = ExportedDetector.from_file(tmp_path / f"{detector.model_name}.onnx")
    assert exported.class_conf == chosen
    ours, theirs = detector.predict(coco_images[:3]), exported.predict(coco_images[:3])
    assert sum(len(d) for d in ours) > 0
    for a, b in zip(ours, theirs):  # the same detections; near-tied scores may swap places
        np.testing.assert_array_equal(np.sort(a.class_ids), np.sort(b.class_ids))
        np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=2e-4)  # 2 x the parity tolerance of a probability


def test_serve_uses_the_stored_thresholds_unless_a_request_sets_conf(tuned: tuple[Path, dict], coco_images: list[Path]) -> None:
    from fastapi.testclient import TestClient

    from yoloxkit.serve.app import create_app

    path, chosen = tuned
    client = TestClient(create_app(Detector.from_checkpoint(path)))
    model = client.get("/model").json()
    assert model["defaults"]["class_conf"] == chosen and model["defaults"]["conf"] is None
    data = coco_images[0].read_bytes()
    stored = client.post("/predict", content=data, headers={"content-type": "image/jpeg"}).json()
    strict = client.post("/predict?conf=0.9", content=data, headers={"content-type": "image/jpeg"}).json()
    assert stored["detections"] and all(d["score"] >= chosen.get(d["class_name"], 0.25) - 1e-6 for d in stored["detections"])
    assert all(d["score"] >= 0.9 for d in strict["detections"]) and len(strict["detections"]) < len(stored["detections"])
