"""Test-time augmentation and ensembles (tta.py, ensemble.py): mirrored images give mirrored
detections, one member or identical members change nothing, the views' outputs are mapped back
exactly, exported models refuse what they cannot do, and the CLI wires it all."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import NANO_CONTRACT, make_detecting_nano
from yoloxkit import Detector
from yoloxkit.data.coco import COCO_CLASSES
from yoloxkit.ensemble import EnsembleDetector
from yoloxkit.errors import YoloxkitError
from yoloxkit.models import create
from yoloxkit.structures import BoxFormat, Detections
from yoloxkit.tta import TTA, Views, unaugment


@pytest.fixture(scope="module")
def detector(coco_images) -> Detector:
    return Detector(make_detecting_nano(coco_images), "yolox-nano", list(COCO_CLASSES), NANO_CONTRACT)


@pytest.fixture(scope="module")
def image(coco_images) -> np.ndarray:
    return cv2.imread(str(coco_images[1]))


def mirrored(det: Detections) -> np.ndarray:
    """The detections' boxes mirrored left-right in their image."""
    boxes = det.boxes.data.copy()
    width = det.image_size[1]
    if det.boxes.format == BoxFormat.RBOX:
        boxes[:, 0] = width - boxes[:, 0]
        boxes[:, 4] = np.remainder(-boxes[:, 4] + np.pi / 2, np.pi) - np.pi / 2
        return boxes
    boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    return boxes


def assert_same(a: Detections, b: np.ndarray, b_scores: np.ndarray, b_classes: np.ndarray, box_tol: float = 2e-3, score_tol: float = 1e-5) -> None:
    """The same detections in any order: each of ``a`` pairs with an unused one of ``b`` of its class,
    score and box (rotated angles compared modulo pi)."""
    assert len(a) == len(b)
    used = np.zeros(len(b), dtype=bool)
    for box, score, cls in zip(a.boxes.data, a.scores, a.class_ids):
        gap = np.abs(b[:, :4] - box[:4]).max(axis=1)
        if b.shape[1] == 5:
            turn = np.abs(np.remainder(b[:, 4] - box[4] + np.pi / 2, np.pi) - np.pi / 2)
            gap = np.maximum(gap, turn * 100)
        gap[used | (b_classes != cls) | (np.abs(b_scores - score) > score_tol)] = np.inf
        best = int(np.argmin(gap))
        assert gap[best] < box_tol, (box, score, cls)
        used[best] = True


@pytest.mark.parametrize("merge", ["wbf", "nms"])
def test_tta_of_a_mirrored_image_is_the_mirror_of_its_tta(detector: Detector, image: np.ndarray, merge: str) -> None:
    tta = TTA(flip=True, merge=merge)
    (plain,) = detector.predict(image, conf=0.05, tta=tta)
    (flipped,) = detector.predict(np.ascontiguousarray(image[:, ::-1]), conf=0.05, tta=tta)
    assert len(plain) >= 5
    assert_same(flipped, mirrored(plain), plain.scores, plain.class_ids)


def test_tta_differs_from_the_plain_prediction_and_says_so(detector: Detector, image: np.ndarray) -> None:
    (plain,) = detector.predict(image, conf=0.05)
    (augmented,) = detector.predict(image, conf=0.05, tta=True)
    assert len(augmented) and not np.array_equal(plain.boxes.data, augmented.boxes.data)
    assert detector.tta is None and "TTA 2 views (scales 1, flip), merged by wbf" in repr(detector.with_tta(True))
    assert detector.with_tta(True).with_tta(None).tta is None


def test_views_are_mapped_back_to_the_unflipped_image_at_the_base_scale() -> None:
    # one decoded row per view: (cx, cy, w, h, angle, obj, cls) of a 200 px wide image at scale 0.5 / 1.0
    rows = torch.tensor([[[30.0, 40.0, 10.0, 6.0, 0.3, 0.9, 0.9]]])
    back = unaugment(rows, flipped=True, ratios=[0.5], widths=[100.0], base=[1.0], rotated=True)
    np.testing.assert_allclose(back[0, 0, :5].numpy(), [140.0, 80.0, 20.0, 12.0, -0.3], rtol=1e-6)
    straight = unaugment(rows[..., [0, 1, 2, 3, 5, 6]], flipped=False, ratios=[2.0], widths=[400.0], base=[1.0], rotated=False)
    np.testing.assert_allclose(straight[0, 0, :4].numpy(), [15.0, 20.0, 5.0, 3.0])


def test_tta_scales_run_at_multiples_of_32(detector: Detector, image: np.ndarray) -> None:
    tta = TTA(scales=(0.75, 1.0, 1.25), flip=False)
    views, base = detector.with_tta(tta).preprocess([image])
    assert isinstance(views, Views) and [tuple(b.shape[2:]) for b in views.batches] == [(96, 96), (128, 128), (160, 160)]
    assert base == pytest.approx([min(128 / image.shape[0], 128 / image.shape[1])])
    assert len(detector.predict(image, conf=0.05, tta=tta)[0]) > 0
    with pytest.raises(YoloxkitError, match="TTA merge"):
        TTA(merge="vote")


def test_rotated_tta_of_a_mirrored_image_is_the_mirror_of_its_tta() -> None:
    torch.manual_seed(0)
    model = create("rotated-yolox-nano", num_classes=2).eval()
    with torch.no_grad():  # raise objectness and class biases: a model that detects everywhere
        for conv in (*model.head.obj_preds, *model.head.cls_preds):
            conv.bias.fill_(2.0)
    rotated = Detector(model, "rotated-yolox-nano", ["a", "b"], NANO_CONTRACT, pretrained=False)
    image = np.random.default_rng(3).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    tta = TTA(flip=True)
    (plain,) = rotated.predict(image, conf=0.3, tta=tta)
    (flipped,) = rotated.predict(np.ascontiguousarray(image[:, ::-1]), conf=0.3, tta=tta)
    assert len(plain) >= 3 and plain.boxes.format == BoxFormat.RBOX
    assert_same(flipped, mirrored(plain), plain.scores, plain.class_ids)


def test_an_ensemble_of_one_is_the_model_itself(detector: Detector, image: np.ndarray) -> None:
    for conf, iou in ((0.05, 0.45), (0.001, 0.65)):  # eval settings too: NMS IoU above the fusion IoU
        (alone,) = detector.predict(image, conf=conf, iou=iou)
        (ensemble,) = Detector.ensemble([detector]).predict(image, conf=conf, iou=iou)
        assert len(alone) > 5
        np.testing.assert_allclose(ensemble.boxes.data, alone.boxes.data, rtol=1e-6)
        np.testing.assert_allclose(ensemble.scores, alone.scores, rtol=1e-6)
        np.testing.assert_array_equal(ensemble.class_ids, alone.class_ids)


@pytest.fixture(scope="module")
def silent() -> Detector:
    """A yolox-nano at 128 px that detects nothing (objectness bias -50)."""
    model = create("yolox-nano", num_classes=80).eval()
    with torch.no_grad():
        for conv in model.head.obj_preds:
            conv.bias.fill_(-50.0)
    return Detector(model, "yolox-nano", list(COCO_CLASSES), NANO_CONTRACT)


def test_identical_members_agree_fully_and_a_silent_member_halves_the_scores(detector: Detector, silent: Detector, image: np.ndarray) -> None:
    (alone,) = detector.predict(image, conf=0.05)
    (twice,) = Detector.ensemble([detector, detector]).predict(image, conf=0.05)
    assert_same(twice, alone.boxes.data, alone.scores, alone.class_ids)
    (half,) = Detector.ensemble([detector, silent]).predict(image, conf=0.05)
    keep = alone.scores >= 0.1
    assert_same(half, alone.boxes.data[keep], alone.scores[keep] / 2, alone.class_ids[keep])


def test_ensemble_members_at_other_input_sizes_are_brought_to_one_scale(detector: Detector, silent: Detector, image: np.ndarray) -> None:
    """The first member (128 px) sets the scale of the fused rows; the other (160 px) is brought to it."""
    from yoloxkit.data.preprocess import PreprocessContract

    bigger = Detector(detector.model, "yolox-nano", list(COCO_CLASSES), PreprocessContract((160, 160)))
    (alone,) = bigger.predict(image, conf=0.1)
    (fused,) = Detector.ensemble([silent, bigger]).predict(image, conf=0.05)
    assert len(alone) > 5
    assert_same(fused, alone.boxes.data, alone.scores / 2, alone.class_ids, box_tol=0.01)


def test_ensembles_refuse_mismatched_members(detector: Detector) -> None:
    other = Detector.untrained("yolox-nano", num_classes=3)
    with pytest.raises(YoloxkitError, match="same classes"):
        EnsembleDetector([detector, other])
    with pytest.raises(YoloxkitError, match="rotated"):
        EnsembleDetector([other, Detector.untrained("rotated-yolox-nano", num_classes=3)])
    with pytest.raises(YoloxkitError, match="weights"):
        EnsembleDetector([detector, detector], weights=[1.0])
    with pytest.raises(YoloxkitError, match="at least one"):
        EnsembleDetector([])


def test_exported_models_refuse_tta_they_cannot_run(detector: Detector, tmp_path: Path, image: np.ndarray) -> None:
    pytest.importorskip("onnxruntime")
    from yoloxkit.export import ExportedDetector, ExportOptions, export_model
    from yoloxkit.export.nms import NMSSettings

    export_model(detector, tmp_path / "static", "onnx", ExportOptions(), check=False, log=lambda _: None)
    static = ExportedDetector.from_file(tmp_path / "static" / "yolox-nano.onnx", threads=1)
    with pytest.raises(YoloxkitError, match="fixed input size"):
        static.with_tta(TTA(scales=(0.75, 1.0)))
    (exported,) = static.predict(image, conf=0.05, tta=True)  # a flip keeps the size: fine
    (pytorch,) = detector.predict(image, conf=0.05, tta=True)
    assert_same(exported, pytorch.boxes.data, pytorch.scores, pytorch.class_ids, box_tol=0.05, score_tol=1e-4)
    export_model(detector, tmp_path / "nms", "onnx", ExportOptions(nms=NMSSettings()), check=False, log=lambda _: None)
    with pytest.raises(YoloxkitError, match="NMS in its graph"):
        ExportedDetector.from_file(tmp_path / "nms" / "yolox-nano.onnx", threads=1).with_tta(True)


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def small_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split manifest over COCO128 whose val split holds 11 images (read in place)."""
    from tests.evaluation.helpers import COCO128
    from yoloxkit.datasets import load_dataset
    from yoloxkit.datasets.splitting import make_split

    out = tmp_path_factory.mktemp("small-coco")
    make_split(load_dataset(COCO128), [0.9, 0.1], 0, ["train", "val"], out)
    return out / "split.yaml"


def test_eval_with_tta_prints_the_gain_beside_the_cost(tmp_path: Path, capsys, nano_checkpoint: Path, small_coco: Path) -> None:
    from tests.cli_helpers import run_cli

    run = run_cli(capsys, "eval", "-w", nano_checkpoint, "--data", small_coco, "--out", tmp_path / "out", "--tta", "--tta-scales", "1,1.25")
    assert run.code == 0, run.err
    line = next(text for text in run.out.splitlines() if text.startswith("TTA: mAP50:95"))
    assert "without TTA" in line and "x the time" in line
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    baseline, tta = metrics["settings"]["baselines"]
    assert baseline["name"] == "without TTA" and tta["name"] == "TTA" and tta["mAP50_95"] == metrics["coco"]["AP"]
    assert "4 views (scales 1, 1.25, flip), merged by wbf" in metrics["settings"]["detector"]
    assert tta["ms"] > baseline["ms"]  # four views cost more than one


def test_predict_and_eval_with_several_weights_run_an_ensemble(tmp_path: Path, capsys, nano_checkpoint: Path, small_coco: Path, coco_images) -> None:
    from tests.cli_helpers import run_cli

    run = run_cli(capsys, "predict", coco_images[1], "-w", nano_checkpoint, "-w", nano_checkpoint, "--out", tmp_path / "pred", "--conf", "0.05")
    assert run.code == 0, run.err
    summary = json.loads((tmp_path / "pred" / "summary.json").read_text())
    assert summary["detector"].startswith("EnsembleDetector(2 members")
    (single,) = Detector.from_checkpoint(nano_checkpoint).predict(coco_images[1], conf=0.05)
    assert summary["detections"] == len(single)  # two identical members: the same detections
    run = run_cli(capsys, "eval", "-w", f"{nano_checkpoint},{nano_checkpoint}", "--data", small_coco, "--out", tmp_path / "eval", "--ensemble-weights", "2,1")
    assert run.code == 0, run.err
    assert any(text.startswith("ensemble: mAP50:95") and "model 1 alone" in text for text in run.out.splitlines())
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [row["name"] for row in metrics["settings"]["baselines"]] == ["model 1 alone", "model 2 alone", "ensemble"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tta-scales", "1,1.2"], "--tta-scales and --tta-merge need --tta"),
        (["--tta", "--tta-merge", "vote"], "TTA merge must be one of wbf, nms"),
        (["--tta", "--tta-scales", "1,x"], "--tta-scales: expected a comma-separated list of float values"),
        (["--ensemble-weights", "1,2"], "--ensemble-weights needs several --weights"),
    ],
)
def test_bad_tta_and_ensemble_options_are_one_line_errors(tmp_path: Path, capsys, nano_checkpoint: Path, coco_images, extra: list[str], message: str) -> None:
    from tests.cli_helpers import one_line_error, run_cli

    one_line_error(run_cli(capsys, "predict", coco_images[1], "-w", nano_checkpoint, "--out", tmp_path / "out", *extra), message)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
