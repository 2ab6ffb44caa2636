"""Optimizer groups equal the reference's (``YoloxConfig.get_optimizer``); per-part LR multipliers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.reference import reference_config
from yoloxkit import YoloxkitError
from yoloxkit.models import create
from yoloxkit.train.freeze import apply_freeze, parse_freeze, part_of
from yoloxkit.train.param_groups import build_param_groups, make_sgd, set_lr

WEIGHT_DECAY = 5e-4


def group_names(model: nn.Module, groups: list[dict]) -> list[set[str]]:
    """The parameter names of each group."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [{names[id(p)] for p in group["params"]} for group in groups]


def set_grads(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _, param in sorted(model.named_parameters()):
        param.grad = torch.randn(param.shape, generator=generator)


@pytest.fixture()
def models() -> tuple[nn.Module, torch.optim.Optimizer, nn.Module]:
    """The reference nano with its own optimizer, and a yoloxkit nano holding the same weights."""
    torch.manual_seed(0)
    config = reference_config("yolox-nano")
    reference = config.get_model()
    optimizer = config.get_optimizer(64)
    ours = create("yolox-nano")
    ours.load_state_dict(reference.state_dict())
    return reference, optimizer, ours


def test_groups_and_steps_equal_the_reference(models: tuple[nn.Module, torch.optim.Optimizer, nn.Module]) -> None:
    reference, ref_optimizer, ours = models
    groups = build_param_groups(ours, WEIGHT_DECAY)
    assert [g["name"] for g in groups] == ["bn", "weight", "bias"]
    assert group_names(ours, groups) == group_names(reference, ref_optimizer.param_groups)
    assert [g["weight_decay"] for g in groups] == [g["weight_decay"] for g in ref_optimizer.param_groups]
    assert all(g["lr_mult"] == 1.0 for g in groups)

    optimizer = make_sgd(groups, lr=0.01)
    for group in ref_optimizer.param_groups:
        group["lr"] = 0.01
    for key in ("momentum", "nesterov", "dampening"):
        assert [g[key] for g in optimizer.param_groups] == [g[key] for g in ref_optimizer.param_groups]
    for step in range(2):  # the second step uses the momentum buffers
        set_grads(reference, step)
        set_grads(ours, step)
        ref_optimizer.step()
        optimizer.step()
    for (name, mine), theirs in zip(ours.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(mine, theirs), name


def test_lr_multipliers_split_groups_by_part() -> None:
    model = create("yolox-nano", num_classes=2)
    groups = build_param_groups(model, WEIGHT_DECAY, {"backbone": 0.1, "neck": 1.0, "head": 2.0})
    assert [g["name"] for g in groups] == [
        f"{kind}{part}" for kind in ("bn", "weight", "bias") for part in ("", ".backbone", ".head")
    ]
    names = group_names(model, groups)
    assert sorted(n for group in names for n in group) == sorted(n for n, _ in model.named_parameters())
    for group, members in zip(groups, names):
        kind, _, part = group["name"].partition(".")
        expected_parts = {part} if part else {"neck"}
        assert {part_of(n) for n in members} == expected_parts, group["name"]
        assert group["lr_mult"] == {"backbone": 0.1, "head": 2.0}.get(part, 1.0)
        assert group["weight_decay"] == (WEIGHT_DECAY if kind == "weight" else 0.0)

    optimizer = make_sgd(groups, lr=0.01)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01 * g["lr_mult"] for g in groups])
    set_lr(optimizer, 0.02)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.02 * g["lr_mult"] for g in groups])


def test_frozen_parameters_stay_in_the_groups_and_do_not_move() -> None:
    model = create("yolox-nano", num_classes=2)
    apply_freeze(model, parse_freeze("backbone"))
    groups = build_param_groups(model, WEIGHT_DECAY)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    optimizer = make_sgd(groups, lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    set_grads(model, 0)
    apply_freeze(model, parse_freeze("backbone"))  # drops the frozen parameters' gradients
    optimizer.step()
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]) == name.startswith("backbone.backbone."), name


def test_unknown_part_and_uncovered_parameter() -> None:
    model = create("yolox-nano", num_classes=2)
    with pytest.raises(YoloxkitError, match="lr_mult: unknown part 'neckk'"):
        build_param_groups(model, WEIGHT_DECAY, {"neckk": 0.5})
    model.head.register_parameter("scale", nn.Parameter(torch.ones(1)))
    with pytest.raises(YoloxkitError, match="'head.scale'"):
        build_param_groups(model, WEIGHT_DECAY)
