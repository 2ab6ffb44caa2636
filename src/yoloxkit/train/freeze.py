"""Freezing parts of a YOLOX while fine-tuning, and unfreezing them on a schedule.

Parts (by state-dict name): ``backbone`` = ``backbone.backbone.*`` (CSPDarknet), ``neck`` = the
rest of ``backbone.*`` (PAFPN), ``head`` = ``head.*``. Backbone stages are numbered from the
input: 1 = ``stem`` (Focus), 2 = ``dark2``, 3 = ``dark3``, 4 = ``dark4``, 5 = ``dark5``;
``stages:N`` freezes the first N of them, so ``stages:5`` is the whole backbone.

A frozen parameter gets ``requires_grad = False`` (it then has no gradient, and SGD leaves it
and its momentum alone), and the BatchNorm layers of frozen parts are kept in eval mode so
their running statistics stay as loaded (:func:`set_frozen_bn_eval`, after every
``model.train()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import YoloxkitError

PARTS: tuple[str, ...] = ("backbone", "neck", "head")
STAGES: tuple[str, ...] = ("stem", "dark2", "dark3", "dark4", "dark5")
_PRESETS = {"none": (0, False), "backbone": (len(STAGES), False), "backbone+neck": (len(STAGES), True)}


def part_of(name: str) -> str:
    """``backbone``, ``neck`` or ``head`` for a parameter, buffer or module name of a YOLOX."""
    first, _, rest = name.partition(".")
    if first == "head":
        return "head"
    if first == "backbone":
        return "backbone" if rest == "backbone" or rest.startswith("backbone.") else "neck"
    raise YoloxkitError(f"{name!r} is not part of a YOLOX (expected backbone.backbone.*, backbone.* or head.*)")


@dataclass(frozen=True)
class FreezeSpec:
    """What is frozen: the first ``stages`` backbone stages (0-5), and the neck when ``neck``."""

    stages: int = 0
    neck: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.stages <= len(STAGES) or (self.neck and self.stages != len(STAGES)):
            raise YoloxkitError(f"freeze: invalid spec (stages={self.stages}, neck={self.neck})")

    def __str__(self) -> str:
        for label, value in _PRESETS.items():
            if value == (self.stages, self.neck):
                return label
        return f"stages:{self.stages}"

    def freezes(self, name: str) -> bool:
        """True when the parameter/module ``name`` lies in a frozen part."""
        part = part_of(name)
        if part == "neck":
            return self.neck
        if part == "head" or self.stages == 0:
            return False
        stage = name.split(".")[2] if name.count(".") >= 2 else ""
        return stage in STAGES[: self.stages]


def parse_freeze(spec: str | int | FreezeSpec | None) -> FreezeSpec:
    """``"none"``/``None``, ``"backbone"``, ``"backbone+neck"``, ``"stages:N"`` or ``N`` (0-5) -> FreezeSpec."""
    if isinstance(spec, FreezeSpec):
        return spec
    if spec is None:
        return FreezeSpec()
    text = str(spec).strip().lower()
    if text in _PRESETS:
        return FreezeSpec(*_PRESETS[text])
    count = text.removeprefix("stages:")
    if count.isdigit() and int(count) <= len(STAGES):
        return FreezeSpec(int(count))
    raise YoloxkitError(
        f"freeze: expected none, backbone, backbone+neck or stages:N with N in 0..{len(STAGES)} "
        f"(1 = stem ... 5 = dark5), got {spec!r}"
    )


def apply_freeze(model: nn.Module, spec: FreezeSpec) -> list[str]:
    """Set ``requires_grad`` False on the parameters ``spec`` freezes (True on all others).

    Frozen parameters also lose any gradient left over, so an optimizer step skips them.
    Returns the frozen parameter names.
    """
    frozen = []
    for name, param in model.named_parameters():
        freeze = spec.freezes(name)
        param.requires_grad_(not freeze)
        if freeze:
            param.grad = None
            frozen.append(name)
    return frozen


def set_frozen_bn_eval(model: nn.Module, spec: FreezeSpec, all_bn: bool = False) -> None:
    """Put the BatchNorm layers of frozen parts (every BatchNorm layer with ``all_bn``: the
    ``finetune.freeze_bn`` option) in eval mode (call after ``model.train()``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (all_bn or spec.freezes(name)):
            module.eval()


@dataclass(frozen=True)
class UnfreezeSchedule:
    """Progressive unfreezing: ``(first epoch, spec)`` steps, epochs 0-based and increasing.

    Before the first step nothing is frozen; each step holds until the next one.
    """

    steps: tuple[tuple[int, FreezeSpec], ...]

    @classmethod
    def parse(cls, text: str) -> UnfreezeSchedule:
        """Read ``"spec@epoch,..."``, e.g. ``"backbone+neck@0,backbone@3,none@6"``."""
        steps = []
        for item in text.split(","):
            spec, at, epoch = item.strip().rpartition("@")
            if not at or not epoch.strip().isdigit():
                raise YoloxkitError(f"unfreeze: expected 'spec@epoch' items separated by commas, got {item.strip()!r}")
            steps.append((int(epoch), parse_freeze(spec)))
        epochs = [epoch for epoch, _ in steps]
        if epochs != sorted(set(epochs)):
            raise YoloxkitError(f"unfreeze: epochs must increase, got {text!r}")
        return cls(tuple(steps))

    @classmethod
    def from_options(cls, freeze: str | int | None, unfreeze: str | None) -> UnfreezeSchedule:
        """The schedule of ``--freeze`` and ``--unfreeze``: ``freeze`` holds until the first step.

        A step at epoch 0 in ``unfreeze`` replaces ``freeze``; both set differently is an error.
        """
        start = parse_freeze(freeze)
        if unfreeze is None:
            return cls(((0, start),))
        schedule = cls.parse(unfreeze)
        first_epoch, first_spec = schedule.steps[0]
        if first_epoch > 0:
            return cls(((0, start), *schedule.steps))
        if start != FreezeSpec() and start != first_spec:
            raise YoloxkitError(f"freeze {start} conflicts with unfreeze's epoch-0 step {first_spec}; set one of them")
        return schedule

    def spec_at(self, epoch: int) -> FreezeSpec:
        """The spec in force during 0-based ``epoch``."""
        current = FreezeSpec()
        for first, spec in self.steps:
            if epoch >= first:
                current = spec
        return current

    def __str__(self) -> str:
        return ",".join(f"{spec}@{epoch}" for epoch, spec in self.steps)
