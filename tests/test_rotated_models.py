"""Rotated YOLOX models: registry, shapes, decoding, le90 range, postprocess, ai4rs key mapping."""

from __future__ import annotations

import math

import pytest
import torch

from yoloxkit.models import canonical_name, create, get_spec, list_models
from yoloxkit.models.inference import optimize_for_inference
from yoloxkit.models.rotated import RotatedYOLOX, norm_angle_le90
from yoloxkit.ops import rotated_postprocess
from yoloxkit.models.rotated_keys import ai4rs_to_yoloxkit_key, is_rotated_state_dict, map_ai4rs_state_dict

ROTATED = ["rotated-yolox-nano", "rotated-yolox-tiny", "rotated-yolox-s", "rotated-yolox-m", "rotated-yolox-l", "rotated-yolox-x"]


def test_registry_lists_rotated_models_apart():
    assert list_models(rotated=True) == ROTATED
    assert not set(ROTATED) & set(list_models())
    assert canonical_name("ROTATED_YOLOX_S") == canonical_name("rotated-s") == "rotated-yolox-s"
    assert canonical_name("s") == "yolox-s"
    assert get_spec("rotated-yolox-s").input_size == (1024, 1024)


@pytest.mark.parametrize("name", ["rotated-yolox-nano", "rotated-yolox-tiny"])
def test_shapes_train_and_eval(name):
    torch.manual_seed(0)
    model = create(name, num_classes=15)
    assert isinstance(model, RotatedYOLOX)
    x = torch.rand(2, 3, 64, 96) * 255
    levels = model.train()(x)
    assert [tuple(level.shape) for level in levels] == [(2, 21, 8, 12), (2, 21, 4, 6), (2, 21, 2, 3)]
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (2, 8 * 12 + 4 * 6 + 2 * 3, 21)
    assert ((out[..., 5:] >= 0) & (out[..., 5:] <= 1)).all()


def test_angle_branch_init_and_wrap_of_the_initial_angle():
    model = create("rotated-yolox-nano", num_classes=3).eval()
    for conv in model.head.ang_preds:
        assert conv.out_channels == 1 and conv.kernel_size == (1, 1)
        assert torch.allclose(conv.bias, torch.tensor([-math.log(99)]))
    # state-dict names of the angle convs, one per stride
    assert {k for k in model.state_dict() if "ang_preds" in k} == {f"head.ang_preds.{i}.{p}" for i in range(3) for p in ("weight", "bias")}


def test_decode_follows_the_reference_formula():
    head = create("rotated-yolox-nano", num_classes=2).head
    shapes = [(2, 3), (1, 2), (1, 1)]
    n = 6 + 2 + 1
    torch.manual_seed(1)
    raw = torch.randn(1, n, 8) * 2
    out = head.decode(raw, shapes)
    cells = [(j, i, 8) for i in range(2) for j in range(3)] + [(j, 0, 16) for j in range(2)] + [(0, 0, 32)]
    for k, (j, i, s) in enumerate(cells):
        dx, dy, dw, dh, a = raw[0, k, :5].tolist()
        expected = [dx * s + j * s, dy * s + i * s, math.exp(dw) * s, math.exp(dh) * s, (a + math.pi / 2) % math.pi - math.pi / 2]
        assert out[0, k, :5].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-5)
        assert torch.equal(out[0, k, 5:], raw[0, k, 5:])


def test_le90_wrap_range_and_periodicity():
    angles = torch.tensor(
        [-math.pi / 2, math.pi / 2, -math.pi, math.pi, 0.0, -1e-9, 1e-9, 3 * math.pi / 2, -4.595, 100.0, -100.0, math.pi / 2 - 1e-7]
    )
    for dtype in (torch.float32, torch.float64):
        wrapped = norm_angle_le90(angles.to(dtype))
        assert ((wrapped >= -math.pi / 2) & (wrapped < math.pi / 2)).all()
        # same line direction: the difference is a multiple of pi
        turns = (angles.to(torch.float64) - wrapped.to(torch.float64)) / math.pi
        assert torch.allclose(turns, turns.round(), atol=1e-5)
    assert norm_angle_le90(torch.tensor(math.pi / 2)).item() == pytest.approx(-math.pi / 2)


def test_eval_output_angles_in_le90_for_any_weights():
    torch.manual_seed(2)
    model = create("rotated-yolox-nano", num_classes=2).eval()
    with torch.no_grad():
        for conv in model.head.ang_preds:
            conv.weight.mul_(1e6)  # untrained reg features are tiny: spread the raw angles over many turns
        out = model(torch.rand(1, 3, 64, 64) * 255)
    angle = out[..., 4]
    assert ((angle >= -math.pi / 2) & (angle < math.pi / 2)).all()
    assert angle.std() > 0.1


def test_inference_copy_keeps_the_angle():
    torch.manual_seed(3)
    model = create("rotated-yolox-nano", num_classes=4).eval()
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        expected, got = model(x), optimize_for_inference(model)(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-3, atol=1e-3)


def _decoded(rows: list[list[float]], num_classes: int) -> torch.Tensor:
    """[1, N, 6 + C] from (cx, cy, w, h, angle, obj, class, prob) rows."""
    out = torch.zeros(1, len(rows), 6 + num_classes)
    for k, (cx, cy, w, h, a, obj, cls, prob) in enumerate(rows):
        out[0, k, :6] = torch.tensor([cx, cy, w, h, a, obj])
        out[0, k, 6 + int(cls)] = prob
    return out


def test_postprocess_class_aware_rotated_nms_and_threshold():
    rows = [
        [50, 50, 40, 10, 0.3, 1.0, 0, 0.9],  # kept (best)
        [52, 50, 40, 10, 0.3, 1.0, 0, 0.8],  # same class, IoU > 0.1 -> suppressed
        [52, 50, 40, 10, 0.3, 1.0, 1, 0.7],  # other class -> kept
        [200, 200, 40, 10, -1.2, 1.0, 0, 0.5],  # far away -> kept
        [300, 300, 40, 10, 0.0, 0.1, 0, 0.05],  # score 0.005 < 0.01 -> dropped
    ]
    (result,) = rotated_postprocess(_decoded(rows, 2), 0.01, 0.1)
    assert result.shape == (3, 8)
    assert result[:, 7].tolist() == [0, 1, 0]
    assert (result[:, 5] * result[:, 6]).tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert result[2, :5].tolist() == pytest.approx([200, 200, 40, 10, -1.2])
    (agnostic,) = rotated_postprocess(_decoded(rows, 2), 0.01, 0.1, class_agnostic=True)
    assert len(agnostic) == 2
    (empty,) = rotated_postprocess(_decoded(rows, 2), 0.99, 0.1)
    assert empty.shape == (0, 8)


def test_postprocess_batch_equals_each_image_alone():
    """One batched NMS over image x class groups: images never suppress each other."""
    gen = torch.Generator().manual_seed(0)
    n, classes = 300, 3
    decoded = torch.rand(3, n, 6 + classes, generator=gen)
    decoded[..., :2] *= 200
    decoded[..., 2:4] = decoded[..., 2:4] * 40 + 2
    decoded[..., 4] = (decoded[..., 4] - 0.5) * torch.pi
    decoded[1] = decoded[0]  # identical images must give identical, independent results
    batched = rotated_postprocess(decoded, 0.05, 0.1)
    for b in range(3):
        (alone,) = rotated_postprocess(decoded[b : b + 1], 0.05, 0.1)
        assert torch.equal(batched[b], alone)
    assert torch.equal(batched[0], batched[1]) and len(batched[0]) > 0


# ai4rs / MMDetection-3.x names (written from the module layout of mmdet's CSPDarknet, YOLOXPAFPN,
# YOLOXHead and ai4rs' RotatedYOLOXHead, independently of the mapping under test).
_AI4RS_TO_OURS = [
    ("backbone.stem.conv.conv.weight", "backbone.backbone.stem.conv.conv.weight"),
    ("backbone.stage1.0.conv.weight", "backbone.backbone.dark2.0.conv.weight"),
    ("backbone.stage1.1.main_conv.bn.running_mean", "backbone.backbone.dark2.1.conv1.bn.running_mean"),
    ("backbone.stage2.1.short_conv.conv.weight", "backbone.backbone.dark3.1.conv2.conv.weight"),
    ("backbone.stage3.1.final_conv.bn.bias", "backbone.backbone.dark4.1.conv3.bn.bias"),
    ("backbone.stage3.1.blocks.2.conv2.conv.weight", "backbone.backbone.dark4.1.m.2.conv2.conv.weight"),
    ("backbone.stage4.1.conv1.conv.weight", "backbone.backbone.dark5.1.conv1.conv.weight"),
    ("backbone.stage4.2.blocks.0.conv1.bn.weight", "backbone.backbone.dark5.2.m.0.conv1.bn.weight"),
    ("neck.reduce_layers.0.conv.weight", "backbone.lateral_conv0.conv.weight"),
    ("neck.reduce_layers.1.bn.num_batches_tracked", "backbone.reduce_conv1.bn.num_batches_tracked"),
    ("neck.top_down_blocks.0.main_conv.conv.weight", "backbone.C3_p4.conv1.conv.weight"),
    ("neck.top_down_blocks.1.final_conv.conv.weight", "backbone.C3_p3.conv3.conv.weight"),
    ("neck.downsamples.0.conv.weight", "backbone.bu_conv2.conv.weight"),
    ("neck.downsamples.1.bn.weight", "backbone.bu_conv1.bn.weight"),
    ("neck.bottom_up_blocks.0.short_conv.conv.weight", "backbone.C3_n3.conv2.conv.weight"),
    ("neck.bottom_up_blocks.1.blocks.0.conv2.bn.running_var", "backbone.C3_n4.m.0.conv2.bn.running_var"),
    ("neck.out_convs.2.conv.weight", "head.stems.2.conv.weight"),
    ("bbox_head.multi_level_cls_convs.0.1.conv.weight", "head.cls_convs.0.1.conv.weight"),
    ("bbox_head.multi_level_reg_convs.2.0.bn.bias", "head.reg_convs.2.0.bn.bias"),
    ("bbox_head.multi_level_conv_cls.1.weight", "head.cls_preds.1.weight"),
    ("bbox_head.multi_level_conv_reg.0.bias", "head.reg_preds.0.bias"),
    ("bbox_head.multi_level_conv_obj.2.weight", "head.obj_preds.2.weight"),
    ("bbox_head.multi_level_conv_ang.0.weight", "head.ang_preds.0.weight"),
    ("bbox_head.multi_level_conv_ang.2.bias", "head.ang_preds.2.bias"),
    ("ema_bbox_head.multi_level_conv_ang.2.bias", None),
    ("data_preprocessor.mean", None),
]
_OUR_PARTS_TO_AI4RS = [
    ("head.ang_preds.", "bbox_head.multi_level_conv_ang."), ("head.cls_preds.", "bbox_head.multi_level_conv_cls."),
    ("head.reg_preds.", "bbox_head.multi_level_conv_reg."), ("head.obj_preds.", "bbox_head.multi_level_conv_obj."),
    ("head.cls_convs.", "bbox_head.multi_level_cls_convs."), ("head.reg_convs.", "bbox_head.multi_level_reg_convs."),
    ("head.stems.", "neck.out_convs."), ("backbone.backbone.stem.", "backbone.stem."),
    ("backbone.backbone.dark2.", "backbone.stage1."), ("backbone.backbone.dark3.", "backbone.stage2."),
    ("backbone.backbone.dark4.", "backbone.stage3."), ("backbone.backbone.dark5.", "backbone.stage4."),
    ("backbone.lateral_conv0.", "neck.reduce_layers.0."), ("backbone.reduce_conv1.", "neck.reduce_layers.1."),
    ("backbone.C3_p4.", "neck.top_down_blocks.0."), ("backbone.C3_p3.", "neck.top_down_blocks.1."),
    ("backbone.bu_conv2.", "neck.downsamples.0."), ("backbone.bu_conv1.", "neck.downsamples.1."),
    ("backbone.C3_n3.", "neck.bottom_up_blocks.0."), ("backbone.C3_n4.", "neck.bottom_up_blocks.1."),
]  # fmt: skip
_CSP_PARTS = {"conv1": "main_conv", "conv2": "short_conv", "conv3": "final_conv", "m": "blocks"}


def _ai4rs_name(key: str) -> str:
    """Our key -> the ai4rs name: module prefix, then the CSPLayer part names (only directly inside a CSPLayer)."""
    ours, theirs = next(p for p in _OUR_PARTS_TO_AI4RS if key.startswith(p[0]))
    parts = key[len(ours) :].split(".")
    if theirs.startswith("neck.top_down") or theirs.startswith("neck.bottom_up"):
        parts[0] = _CSP_PARTS.get(parts[0], parts[0])
    elif parts[0] == ("2" if theirs == "backbone.stage4." else "1") and theirs.startswith("backbone.stage"):
        parts[1] = _CSP_PARTS.get(parts[1], parts[1])
    return theirs + ".".join(parts)


@pytest.mark.parametrize(("theirs", "ours"), _AI4RS_TO_OURS)
def test_ai4rs_key_mapping_examples(theirs, ours):
    assert ai4rs_to_yoloxkit_key(theirs) == ours


def test_ai4rs_state_dict_loads_into_the_rotated_model():
    torch.manual_seed(4)
    source = create("rotated-yolox-tiny", num_classes=15)
    ours = source.state_dict()
    ai4rs = {_ai4rs_name(k): v for k, v in ours.items()}
    assert "bbox_head.multi_level_conv_ang.1.weight" in ai4rs
    assert "backbone.stage4.2.blocks.0.conv1.conv.weight" in ai4rs and "backbone.stage4.1.conv2.conv.weight" in ai4rs
    ai4rs["ema_backbone.stem.conv.conv.weight"] = torch.zeros(1)
    assert is_rotated_state_dict(ai4rs)
    mapped, ignored = map_ai4rs_state_dict(ai4rs)
    assert ignored == ["ema_backbone.stem.conv.conv.weight"]
    target = create("rotated-yolox-tiny", num_classes=15)
    target.load_state_dict(mapped, strict=True)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in ours.items())
    assert not is_rotated_state_dict(create("yolox-nano", num_classes=2).state_dict())
