"""The model zoo: registry, parameter counts, FLOPs, key layout, module behaviour."""

from __future__ import annotations

import pytest
import torch

from yoloxkit.errors import YoloxkitError
from yoloxkit.models import canonical_name, count_gflops, count_parameters, create, get_spec, list_models
from yoloxkit.models.blocks import space_to_depth

REFERENCE_PARAMS = {
    "yolox-nano": 912_159,
    "yolox-tiny": 5_055_855,
    "yolox-s": 8_968_255,
    "yolox-m": 25_326_495,
    "yolox-l": 54_208_895,
    "yolox-x": 99_071_455,
}
STATE_DICT_ENTRIES = {"yolox-nano": 642, "yolox-tiny": 462, "yolox-s": 462, "yolox-m": 606, "yolox-l": 750, "yolox-x": 894}
PUBLISHED_GFLOPS = {"yolox-nano": 1.08, "yolox-tiny": 6.45, "yolox-s": 26.8, "yolox-m": 73.8, "yolox-l": 155.6, "yolox-x": 281.9}


def test_registry_lists_the_six_sizes_in_order():
    assert list_models() == list(REFERENCE_PARAMS)


@pytest.mark.parametrize("name", list(REFERENCE_PARAMS))
def test_parameter_counts_and_state_dict_size_equal_the_reference(name):
    model = create(name, num_classes=80)
    assert count_parameters(model) == REFERENCE_PARAMS[name]
    assert len(model.state_dict()) == STATE_DICT_ENTRIES[name]


@pytest.mark.parametrize("name", ["yolox-nano", "yolox-s"])
def test_gflops_are_computed_and_close_to_published(name):
    gflops = count_gflops(create(name), get_spec(name).input_size)
    # Convolutions only; the published (thop) figures also count BN and activations, which
    # weigh most in depthwise nano: ours is up to 5 % below, never above.
    assert 0.95 * PUBLISHED_GFLOPS[name] <= gflops <= PUBLISHED_GFLOPS[name]


def test_gflops_scale_with_input_area():
    model = create("yolox-nano")
    assert count_gflops(model, (640, 640)) == pytest.approx(count_gflops(model, (320, 320)) * 4, rel=1e-6)


def test_example_keys_and_shapes_from_the_spec():
    s = create("yolox-s").state_dict()
    assert s["backbone.backbone.stem.conv.conv.weight"].shape == (32, 12, 3, 3)
    assert s["backbone.backbone.dark5.1.conv2.conv.weight"].shape == (512, 1024, 1, 1)
    assert s["backbone.C3_p4.conv1.conv.weight"].shape == (128, 512, 1, 1)
    assert s["backbone.bu_conv1.conv.weight"].shape == (256, 256, 3, 3)
    assert s["head.cls_convs.0.0.conv.weight"].shape == (128, 128, 3, 3)
    assert s["head.cls_preds.2.weight"].shape == (80, 128, 1, 1)
    assert s["head.obj_preds.0.bias"].shape == (1,)
    assert s["head.stems.2.conv.weight"].shape == (128, 512, 1, 1)
    assert list(s)[-1].startswith("head.stems.2.")  # stems come last, as in Megvii's files
    nano = create("yolox-nano").state_dict()
    assert nano["backbone.bu_conv2.dconv.conv.weight"].shape == (64, 1, 3, 3)
    assert nano["head.cls_convs.0.0.pconv.conv.weight"].shape == (64, 64, 1, 1)


def test_class_count_only_changes_cls_preds():
    a, b = create("yolox-nano", 80).state_dict(), create("yolox-nano", 3).state_dict()
    differing = {k for k in a if a[k].shape != b[k].shape}
    assert differing == {f"head.cls_preds.{k}.{p}" for k in range(3) for p in ("weight", "bias")}


def test_initialisation_follows_the_reference():
    model = create("yolox-nano")
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 and m.momentum == 0.03 for m in norms)
    for conv in (*model.head.cls_preds, *model.head.obj_preds):
        assert torch.allclose(conv.bias, torch.full_like(conv.bias, -4.59512), atol=1e-5)


def test_output_layout_in_eval_and_training():
    model = create("yolox-nano", num_classes=3).eval()
    x = torch.rand(2, 3, 64, 96) * 255
    with torch.no_grad():
        decoded = model(x)
        model.head.decode_in_inference = False
        raw = model(x)
    assert decoded.shape == raw.shape == (2, (8 * 12) + (4 * 6) + (2 * 3), 8)
    assert torch.equal(decoded[..., 4:], raw[..., 4:])
    # First anchor of stride 8 sits at cell (0, 0): cx = tx * 8, w = exp(tw) * 8.
    torch.testing.assert_close(decoded[:, 0, 0], raw[:, 0, 0] * 8)
    torch.testing.assert_close(decoded[:, 0, 2], torch.exp(raw[:, 0, 2]) * 8)
    model.train()
    levels = model(x)
    assert [tuple(t.shape) for t in levels] == [(2, 8, 8, 12), (2, 8, 4, 6), (2, 8, 2, 3)]


def test_space_to_depth_channel_order():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = space_to_depth(x)
    assert out[0, :, 0, 0].tolist() == [0.0, 4.0, 1.0, 5.0]  # (0,0), (1,0), (0,1), (1,1)


@pytest.mark.parametrize("spelling", ["YOLOX_S", "yolox-s", "s", " Yolox_s "])
def test_model_names_are_normalised(spelling):
    assert canonical_name(spelling) == "yolox-s"


def test_unknown_model_and_bad_class_count_are_user_errors():
    with pytest.raises(YoloxkitError, match="unknown model 'yolox-q'.*yolox-nano"):
        create("yolox-q")
    with pytest.raises(YoloxkitError, match="num_classes"):
        create("yolox-s", num_classes=0)
