"""Optimizer parameter groups: the reference's three groups, split by part for LR multipliers.

The reference (Megvii ``get_optimizer``) walks the modules and puts

- ``bn``: the weight of every BatchNorm2d, or of any module whose name contains ``"bn"``
  (no weight decay);
- ``weight``: every other module's ``weight`` parameter (``weight_decay``);
- ``bias``: every module's ``bias`` parameter (no weight decay).

With a multiplier other than 1 for a part (``backbone``, ``neck``, ``head``, see
:func:`yoloxkit.train.freeze.part_of`), that part's parameters get groups of their own, named
``"<kind>.<part>"``. Every group has ``name`` and ``lr_mult``; the learning rate of a group is
the scheduled rate times its ``lr_mult`` (:func:`set_lr`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import YoloxkitError
from .freeze import PARTS, part_of

KINDS: tuple[str, ...] = ("bn", "weight", "bias")


def _kinds_of(model: nn.Module) -> list[tuple[str, str, nn.Parameter]]:
    """(kind, parameter name, parameter) in the reference's order and by its rule."""
    found = []
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(getattr(module, "bias", None), nn.Parameter):
            found.append(("bias", prefix + "bias", module.bias))
        if isinstance(module, nn.BatchNorm2d) or "bn" in module_name:
            found.append(("bn", prefix + "weight", module.weight))
        elif isinstance(getattr(module, "weight", None), nn.Parameter):
            found.append(("weight", prefix + "weight", module.weight))
    covered = {id(param) for _, _, param in found}
    missed = [name for name, param in model.named_parameters() if id(param) not in covered]
    if missed:
        raise YoloxkitError(f"parameter {missed[0]!r} is neither a module weight nor a bias; no optimizer group takes it")
    return found


def build_param_groups(
    model: nn.Module, weight_decay: float, lr_mult: Mapping[str, float] | None = None
) -> list[dict]:
    """Parameter groups for ``torch.optim.SGD``: the reference's three, split by part when needed.

    Groups come in the reference's order (``bn``, ``weight``, ``bias``), each followed by its
    per-part groups; empty groups are left out. Parameters with ``requires_grad`` False are
    included, so unfreezing later needs no new optimizer (SGD skips a parameter whose
    ``.grad`` is None: frozen parameters are neither decayed nor moved).
    """
    mults = dict(lr_mult or {})
    unknown = [part for part in mults if part not in PARTS]
    if unknown:
        raise YoloxkitError(f"lr_mult: unknown part {unknown[0]!r}; expected {', '.join(PARTS)}")
    own_group = [part for part in PARTS if float(mults.get(part, 1.0)) != 1.0]
    params: dict[str, list[nn.Parameter]] = {}
    for kind, name, param in _kinds_of(model):
        part = part_of(name)
        params.setdefault(f"{kind}.{part}" if part in own_group else kind, []).append(param)
    groups = []
    for kind in KINDS:
        for name, mult in [(kind, 1.0)] + [(f"{kind}.{part}", float(mults[part])) for part in own_group]:
            if params.get(name):
                decay = weight_decay if kind == "weight" else 0.0
                groups.append({"params": params[name], "weight_decay": decay, "lr_mult": mult, "name": name})
    return groups


def make_sgd(groups: list[dict], lr: float, momentum: float = 0.9, nesterov: bool = True) -> torch.optim.SGD:
    """SGD over ``groups`` with each group's learning rate set to ``lr * lr_mult``."""
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)
    set_lr(optimizer, lr)
    return optimizer


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Write the scheduled ``lr`` into every group, times the group's ``lr_mult`` (1 if absent)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
