"""The inference-optimised copy that ``Detector.predict`` runs computes what the plain model computes.

``optimize_for_inference`` folds BN, runs fused oneDNN convolutions in channels-last memory,
turns the Focus stem into a 6x6 convolution, cascades SPP pools and decodes in place. Checked
here on real COCO128 images, for yolox-nano (depthwise) and yolox-s:

* a well-conditioned network: float32 outputs equal the plain model's within 1e-4 relative;
* a calibrated network that detects things (sensitive: float32 rounding alone moves its
  scores by ~1e-3): the optimised copy is no further from the float64 result than the plain
  float32 model is (within 2x), and in float64 the two agree to 1e-9 (exact restructuring);
* the building blocks exactly, and ``Detector``'s cache: weights changed in place (or moved
  to a new dtype) cause a rebuild.
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import pytest
import torch
from torch import nn

from yoloxkit import Detector
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.models import create
from yoloxkit.models.blocks import SPPBottleneck, space_to_depth
from yoloxkit.models.inference import (
    CascadedSPP,
    InferenceYOLOX,
    focus_as_conv,
    optimize_for_inference,
)

IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017"
SIZES = {"yolox-nano": 416, "yolox-s": 640}


def real_batch(size: int, count: int = 1, start: int = 0) -> torch.Tensor:
    files = sorted(IMAGES.glob("*.jpg"))[start : start + count]
    if len(files) < count:
        pytest.skip(f"COCO128 images not found in {IMAGES}")
    batch, _ = preprocess_batch([cv2.imread(str(p)) for p in files], PreprocessContract((size, size)))
    return batch


def well_conditioned(name: str) -> nn.Module:
    """Seeded random weights with moderate, random BN statistics (rounding is not amplified)."""
    torch.manual_seed(0)
    model = create(name).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                n = bn.num_features
                bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
                bn.bias.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                bn.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                bn.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
        for conv in (*model.head.cls_preds, *model.head.obj_preds):
            conv.bias.zero_()  # probabilities around 0.5, not 0.01
    return model


def detecting(name: str, size: int) -> nn.Module:
    """Seeded random weights calibrated on real images so that scores spread over (0, 1)."""
    torch.manual_seed(0)
    model = create(name).eval()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        model(real_batch(size, 4, start=64))
        for bn in norms:
            bn.momentum = 0.03
            bn.eval()
        for convs, bias in ((model.head.obj_preds, -4.0), (model.head.cls_preds, -2.0)):
            for conv in convs:
                conv.weight.mul_(4.0)
                conv.bias.fill_(bias)
        for conv in model.head.reg_preds:
            conv.weight.mul_(0.1)
            conv.bias[2:].fill_(1.6)
    return model.eval()


def run(model: nn.Module, x: torch.Tensor, decode: bool = True) -> torch.Tensor:
    model.head.decode_in_inference = decode
    try:
        with torch.inference_mode():
            return model(x)
    finally:
        model.head.decode_in_inference = True


@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("decode", [True, False])
def test_optimised_copy_matches_plain_model_within_1e4(name, decode):
    model = well_conditioned(name)
    x = real_batch(SIZES[name], 2)
    expected = run(model, x, decode)
    actual = run(optimize_for_inference(model), x, decode)
    assert actual.shape == expected.shape
    assert expected[..., 4:].std() > 1e-3, "outputs should depend on the image"
    for columns in (slice(0, 4), slice(4, None)):
        scale = expected[..., columns].abs().max().item()
        torch.testing.assert_close(actual[..., columns], expected[..., columns], rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", list(SIZES))
def test_optimised_copy_error_stays_within_float32_noise(name):
    model = detecting(name, SIZES[name])
    x = real_batch(SIZES[name], 1)
    exact = run(copy.deepcopy(model).double(), x.double()).float()
    plain_error = (run(model, x) - exact).abs()
    optimised_error = (run(optimize_for_inference(model), x) - exact).abs()
    scores = exact[..., 4:5] * exact[..., 5:]
    assert (scores.amax(-1) >= 0.25).sum() > 20, "calibration should give real detections"
    for columns in (slice(0, 4), slice(4, None)):
        for statistic in (torch.max, torch.mean):
            ours, plain = statistic(optimised_error[..., columns]), statistic(plain_error[..., columns])
            assert ours <= 2 * plain + 1e-6, (columns, statistic.__name__, ours, plain)


@pytest.mark.parametrize(("name", "size"), [("yolox-nano", 256), ("yolox-s", 256)])
def test_float64_copy_is_the_same_function(name, size):
    model = detecting(name, size).double()
    x = real_batch(size, 1).double()
    expected = run(model, x)
    actual = run(optimize_for_inference(model), x)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())


def test_focus_as_a_strided_convolution_is_exact():
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 16, 3, 1, 1, bias=True).double()
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(focus_as_conv(conv)(x), conv(space_to_depth(x)), rtol=1e-12, atol=1e-12)


def test_cascaded_spp_pools_are_identical():
    torch.manual_seed(0)
    spp = SPPBottleneck(32, 32).eval()
    cascaded = CascadedSPP(nn.Identity(), nn.Identity(), 5, 3)
    x = torch.randn(2, 32, 20, 20)
    with torch.no_grad():
        expected = torch.cat([x, *(pool(x) for pool in spp.m)], 1)
        assert torch.equal(cascaded(x), expected)
        assert torch.equal(cascaded(x.contiguous(memory_format=torch.channels_last)), expected)


def test_optimised_copy_is_inference_only_and_independent():
    model = well_conditioned("yolox-nano")
    optimised = optimize_for_inference(model)
    assert isinstance(optimised, InferenceYOLOX)
    with pytest.raises(RuntimeError, match="cannot be trained"):
        optimised.train()
    assert model.state_dict().keys() == create("yolox-nano").state_dict().keys()  # original untouched
    assert all(p.requires_grad for p in model.parameters())


def test_detector_rebuilds_its_inference_copy_when_weights_change():
    model = well_conditioned("yolox-nano")
    detector = Detector(model, "yolox-nano", contract=PreprocessContract((416, 416)))
    x = real_batch(416, 1)
    runner = detector._inference_model()
    assert detector._inference_model() is runner  # cached while nothing changes
    before = run(runner, x)

    with torch.no_grad():
        model.head.obj_preds[0].bias.add_(2.0)  # in place: same storage, new version
    rebuilt = detector._inference_model()
    assert rebuilt is not runner
    after = run(rebuilt, x)
    assert not torch.allclose(after[..., 4], before[..., 4])
    torch.testing.assert_close(after, run(model, x), rtol=1e-4, atol=1e-4 * after[..., :4].abs().max().item())

    with torch.no_grad():
        model.backbone.backbone.stem.conv.bn.running_var.mul_(2.0)  # a buffer counts too
    assert detector._inference_model() is not rebuilt

    state = {k: v.clone() for k, v in well_conditioned("yolox-nano").state_dict().items()}
    current = detector._inference_model()
    model.load_state_dict(state)  # copies into the existing tensors
    assert detector._inference_model() is not current
    torch.testing.assert_close(
        run(detector._inference_model(), x), before, rtol=1e-4, atol=1e-4 * before[..., :4].abs().max().item()
    )


def test_detector_predictions_with_and_without_the_optimised_copy_agree():
    model = well_conditioned("yolox-s")
    with torch.no_grad():
        for conv in model.head.obj_preds:
            conv.weight.mul_(50.0)  # spread objectness so that some boxes pass 0.25
    files = sorted(IMAGES.glob("*.jpg"))[:2]
    contract = PreprocessContract((320, 320))
    fused = Detector(model, "yolox-s", contract=contract, fuse=True).predict(files, conf=0.25, iou=0.45)
    plain = Detector(model, "yolox-s", contract=contract, fuse=False).predict(files, conf=0.25, iou=0.45)
    assert sum(len(d) for d in plain) > 0
    for a, b in zip(fused, plain):
        # Same detections; the order of (near-)equal scores may differ by float32 rounding.
        assert len(a) == len(b)
        assert sorted(a.class_ids.tolist()) == sorted(b.class_ids.tolist())
        boxes_a, boxes_b = torch.from_numpy(a.boxes.data), torch.from_numpy(b.boxes.data)
        same_class = torch.from_numpy(a.class_ids)[:, None] == torch.from_numpy(b.class_ids)[None, :]
        distance = torch.cdist(boxes_a.double(), boxes_b.double()).masked_fill(~same_class, float("inf"))
        nearest = distance.argmin(1)
        assert distance.min(1).values.max() < 1e-2
        assert sorted(nearest.tolist()) == list(range(len(b)))  # one-to-one
        torch.testing.assert_close(torch.from_numpy(a.scores), torch.from_numpy(b.scores)[nearest], rtol=1e-4, atol=1e-4)
