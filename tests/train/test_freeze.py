"""Freeze presets, frozen BatchNorm statistics across a training step, progressive unfreezing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from yoloxkit import YoloxkitError
from yoloxkit.models import create
from yoloxkit.train.freeze import (
    FreezeSpec,
    UnfreezeSchedule,
    apply_freeze,
    parse_freeze,
    part_of,
    set_frozen_bn_eval,
)
from yoloxkit.train.param_groups import build_param_groups, make_sgd


@pytest.fixture()
def nano() -> nn.Module:
    torch.manual_seed(0)
    return create("yolox-nano", num_classes=3)


def batch_norms(model: nn.Module) -> dict[str, nn.BatchNorm2d]:
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}


def train_step(model: nn.Module, spec: FreezeSpec, optimizer: torch.optim.Optimizer) -> None:
    """One SGD step on a made-up loss over the raw training-mode outputs."""
    model.train()
    set_frozen_bn_eval(model, spec)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 255
    loss = sum(level.square().mean() for level in model(x))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_part_of() -> None:
    assert part_of("backbone.backbone.dark3.1.conv1.conv.weight") == "backbone"
    assert part_of("backbone.backbone") == "backbone"
    assert part_of("backbone.C3_p4.conv1.bn.running_mean") == "neck"
    assert part_of("head.cls_preds.0.bias") == "head"
    with pytest.raises(YoloxkitError, match="not part of a YOLOX"):
        part_of("module.head.cls_preds.0.bias")


@pytest.mark.parametrize(
    ("spec", "stages", "neck", "text"),
    [
        (None, 0, False, "none"),
        ("none", 0, False, "none"),
        ("backbone", 5, False, "backbone"),
        (" Backbone+Neck ", 5, True, "backbone+neck"),
        ("stages:2", 2, False, "stages:2"),
        (3, 3, False, "stages:3"),
        ("stages:5", 5, False, "backbone"),
        (0, 0, False, "none"),
    ],
)
def test_parse_freeze(spec: object, stages: int, neck: bool, text: str) -> None:
    parsed = parse_freeze(spec)  # type: ignore[arg-type]
    assert (parsed.stages, parsed.neck, str(parsed)) == (stages, neck, text)
    assert parse_freeze(str(parsed)) == parsed


@pytest.mark.parametrize("spec", ["head", "stages:6", 6, -1, "stages:", "neck", ""])
def test_bad_freeze_spec_names_the_field(spec: object) -> None:
    with pytest.raises(YoloxkitError, match="^freeze: expected"):
        parse_freeze(spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "frozen_prefixes"),
    [
        ("none", ()),
        ("backbone", ("backbone.backbone.",)),
        ("backbone+neck", ("backbone.",)),
        ("stages:2", ("backbone.backbone.stem.", "backbone.backbone.dark2.")),
        (4, tuple(f"backbone.backbone.{s}." for s in ("stem", "dark2", "dark3", "dark4"))),
    ],
)
def test_apply_freeze_freezes_the_right_parameters(nano: nn.Module, spec: object, frozen_prefixes: tuple) -> None:
    parsed = parse_freeze(spec)  # type: ignore[arg-type]
    apply_freeze(nano, parse_freeze("backbone+neck"))  # start from another state: everything is reset
    frozen = apply_freeze(nano, parsed)
    expected = [name for name, _ in nano.named_parameters() if name.startswith(frozen_prefixes)]
    assert frozen == expected
    for name, param in nano.named_parameters():
        assert param.requires_grad == (name not in expected), name

    nano.train()
    set_frozen_bn_eval(nano, parsed)
    for name, bn in batch_norms(nano).items():
        assert bn.training == (not name.startswith(frozen_prefixes)), name


def test_training_step_leaves_frozen_weights_and_bn_statistics_unchanged(nano: nn.Module) -> None:
    spec = parse_freeze("stages:3")
    apply_freeze(nano, spec)
    optimizer = make_sgd(build_param_groups(nano, 5e-4), lr=0.1)
    before = {k: v.clone() for k, v in nano.state_dict().items()}
    train_step(nano, spec, optimizer)
    after = nano.state_dict()
    frozen = ("backbone.backbone.stem.", "backbone.backbone.dark2.", "backbone.backbone.dark3.")
    for key, value in after.items():
        if key.startswith(frozen):
            assert torch.equal(value, before[key]), key
    assert not torch.equal(after["backbone.backbone.dark4.0.dconv.conv.weight"], before["backbone.backbone.dark4.0.dconv.conv.weight"])
    assert not torch.equal(after["backbone.backbone.dark4.0.dconv.bn.running_mean"], before["backbone.backbone.dark4.0.dconv.bn.running_mean"])
    assert not torch.equal(after["head.cls_preds.0.weight"], before["head.cls_preds.0.weight"])

    # Unfreezing later reuses the same optimizer: the backbone now moves.
    spec = parse_freeze("none")
    apply_freeze(nano, spec)
    train_step(nano, spec, optimizer)
    moved = nano.state_dict()
    assert not torch.equal(moved["backbone.backbone.stem.conv.conv.weight"], before["backbone.backbone.stem.conv.conv.weight"])
    assert not torch.equal(moved["backbone.backbone.stem.conv.bn.running_var"], before["backbone.backbone.stem.conv.bn.running_var"])


def test_unfreeze_schedule() -> None:
    schedule = UnfreezeSchedule.parse("backbone+neck@0, backbone@3,none@6")
    assert [str(schedule.spec_at(e)) for e in range(8)] == ["backbone+neck"] * 3 + ["backbone"] * 3 + ["none"] * 2
    assert str(schedule) == "backbone+neck@0,backbone@3,none@6"
    assert UnfreezeSchedule.parse(str(schedule)) == schedule
    assert str(UnfreezeSchedule.parse("stages:2@4").spec_at(1)) == "none"  # before the first step


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("backbone@3,none@1", "epochs must increase"),
        ("backbone@1,none@1", "epochs must increase"),
        ("backbone", "spec@epoch"),
        ("backbone@x", "spec@epoch"),
        ("backbone@-1", "spec@epoch"),
        ("head@0", "^freeze: expected"),
    ],
)
def test_bad_unfreeze_schedule(text: str, message: str) -> None:
    with pytest.raises(YoloxkitError, match=message):
        UnfreezeSchedule.parse(text)


def test_schedule_from_freeze_and_unfreeze_options() -> None:
    assert str(UnfreezeSchedule.from_options("backbone", None)) == "backbone@0"
    assert str(UnfreezeSchedule.from_options(None, None)) == "none@0"
    assert str(UnfreezeSchedule.from_options("backbone+neck", "backbone@2,none@4")) == "backbone+neck@0,backbone@2,none@4"
    assert str(UnfreezeSchedule.from_options("none", "backbone@0,none@4")) == "backbone@0,none@4"
    assert str(UnfreezeSchedule.from_options("backbone", "backbone@0,none@4")) == "backbone@0,none@4"
    with pytest.raises(YoloxkitError, match="conflicts"):
        UnfreezeSchedule.from_options("backbone+neck", "backbone@0,none@4")
