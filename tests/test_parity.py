"""Numerical parity with the reference YOLOX (pixeltable-yolox = Megvii's code).

For every size, a calibrated reference model (see ``tests/reference.py`` for how its outputs
are made meaningful) is loaded into yoloxkit through its state dict, and the two are compared
on real COCO128 images: raw head outputs, decoded outputs, postprocessed detections and the
whole prediction pipeline from image files. The large models run at a small input to keep the
suite fast (256x256); the network is fully convolutional, so nothing size-specific is skipped.
"""

from __future__ import annotations

import copy

import cv2
import pytest
import torch

from tests.reference import calibrated_reference, coco128_files, reference_config, reference_preprocess
from yoloxkit import Detector
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.models import create
from yoloxkit.ops import postprocess

yolox = pytest.importorskip("yolox", reason="the reference (pixeltable-yolox) is not installed")
from yolox.utils import postprocess as reference_postprocess  # noqa: E402

TEST_SIZES = {
    "yolox-nano": (416, 416),
    "yolox-tiny": (416, 416),
    "yolox-s": (640, 640),
    "yolox-m": (256, 256),
    "yolox-l": (256, 256),
    "yolox-x": (256, 256),
}
IMAGE_FILES = coco128_files(3)  # 640x480, 640x426, 640x428: letterbox padding differs


@pytest.fixture(scope="module", params=list(TEST_SIZES))
def pair(request):
    """(name, input size, reference model, yoloxkit model with the reference's weights, batch)."""
    name = request.param
    size = TEST_SIZES[name]
    reference = calibrated_reference(name, size=size)
    ours = create(name)
    ours.load_state_dict(reference.state_dict())
    ours.eval()
    batch = reference_preprocess([cv2.imread(str(p)) for p in IMAGE_FILES], size)
    return name, size, reference, ours, batch


def _run(model, batch, decode: bool) -> torch.Tensor:
    model.head.decode_in_inference = decode
    try:
        with torch.inference_mode():
            return model(batch)
    finally:
        model.head.decode_in_inference = True


def test_fresh_models_have_identical_state_dict_layout():
    for name in TEST_SIZES:
        reference = reference_config(name).get_model().state_dict()
        ours = create(name).state_dict()
        assert list(ours) == list(reference)
        assert all(ours[k].shape == reference[k].shape and ours[k].dtype == reference[k].dtype for k in ours)


def test_raw_head_outputs_match(pair):
    _, _, reference, ours, batch = pair
    expected = _run(reference, batch, decode=False)
    actual = _run(ours, batch, decode=False)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_decoded_outputs_match(pair):
    _, _, reference, ours, batch = pair
    expected = _run(reference, batch, decode=True)
    actual = _run(ours, batch, decode=True)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-3)


def _assert_same_detections(actual: list[torch.Tensor], expected: list[torch.Tensor | None]) -> None:
    assert len(actual) == len(expected)
    for ours, ref in zip(actual, expected):
        ref = torch.zeros(0, 7) if ref is None else ref
        assert ours.shape == ref.shape
        assert torch.equal(ours[:, 6], ref[:, 6]), "classes differ"
        torch.testing.assert_close(ours[:, :4], ref[:, :4], rtol=0, atol=1e-3)
        torch.testing.assert_close(ours[:, 4] * ours[:, 5], ref[:, 4] * ref[:, 5], rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("conf", "nms", "agnostic"),
    [(0.25, 0.45, False), (0.25, 0.45, True), (0.01, 0.65, False)],
)
def test_postprocess_gives_the_same_detections(pair, conf, nms, agnostic):
    _, _, reference, ours, batch = pair
    outputs = _run(reference, batch, decode=True)
    expected = reference_postprocess(outputs.clone(), outputs.shape[-1] - 5, conf, nms, class_agnostic=agnostic)
    actual = postprocess(outputs.clone(), conf, nms, class_agnostic=agnostic)
    assert sum(len(d) for d in actual) > 20, "calibration should give real detections"
    _assert_same_detections(actual, expected)


def test_prediction_pipeline_matches_reference(pair):
    """Files in, boxes in original pixels out: the user-facing path against the reference's.

    Run unfused (``fuse=False``) so that the arithmetic is the reference's op for op: the
    same detections in the same order, boxes within 1e-3 px, scores within 1e-4.
    """
    name, size, reference, ours, batch = pair
    detector = Detector(ours, name, contract=PreprocessContract(size), fuse=False)
    results = detector.predict(IMAGE_FILES, conf=0.25, iou=0.45)
    outputs = _run(reference, batch, decode=True)
    expected = reference_postprocess(outputs.clone(), outputs.shape[-1] - 5, 0.25, 0.45)
    for result, ref, path in zip(results, expected, IMAGE_FILES):
        ref = torch.zeros(0, 7) if ref is None else ref
        image = cv2.imread(str(path))
        ratio = min(size[0] / image.shape[0], size[1] / image.shape[1])
        assert result.image_size == image.shape[:2]
        assert len(result) == len(ref)
        assert result.class_ids.tolist() == ref[:, 6].long().tolist()
        torch.testing.assert_close(torch.from_numpy(result.boxes.data), ref[:, :4] / ratio, rtol=0, atol=1e-3)
        torch.testing.assert_close(torch.from_numpy(result.scores), ref[:, 4] * ref[:, 5], rtol=0, atol=1e-4)


def test_fused_model_error_stays_within_float32_noise(pair):
    """BN folding (the default for prediction) changes results only by float32 rounding.

    The calibrated random networks are sensitive: float32 vs float64 evaluation of the
    reference itself differs by up to ~1e-3 in scores, and by several pixels on the largest
    boxes of yolox-x. The optimised model may not be further from the float64 result than the
    reference's own float32 evaluation, up to a factor: 2 on the mean and 4 on the 99.9th
    percentile of the relative error, for the box and the probability columns separately.
    """
    name, size, reference, ours, batch = pair
    inference_model = Detector(ours, name, contract=PreprocessContract(size), fuse=True)._inference_model()
    exact = _run(copy.deepcopy(reference).double(), batch.double(), decode=True)
    with torch.inference_mode():
        optimised = inference_model(batch).double()
    reference_output = _run(reference, batch, decode=True).double()
    for columns in (slice(0, 4), slice(4, None)):
        scale = exact[..., columns].abs() + 1.0
        ours_error = ((optimised - exact)[..., columns].abs() / scale).flatten()
        theirs_error = ((reference_output - exact)[..., columns].abs() / scale).flatten()
        assert ours_error.mean() <= 2 * theirs_error.mean() + 1e-7, (columns, "mean")
        q_ours, q_theirs = torch.quantile(ours_error, 0.999), torch.quantile(theirs_error, 0.999)
        assert q_ours <= 4 * q_theirs + 1e-7, (columns, "p99.9", q_ours, q_theirs)
