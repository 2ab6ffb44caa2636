"""Named model configurations and the factory that builds them."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import YoloxkitError
from .backbone import PAFPN
from .head import YOLOXHead
from .rotated import RotatedYOLOX, RotatedYOLOXHead
from .yolox import YOLOX


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build one member of the YOLOX family."""

    name: str
    depth: float
    width: float
    input_size: tuple[int, int]
    depthwise: bool = False
    act: str = "silu"
    rotated: bool = False  # Rotated YOLOX: angle branch in the head, rbox output (models/rotated.py)

    def build(self, num_classes: int = 80) -> YOLOX:
        """Instantiate the network with freshly initialised weights."""
        if num_classes < 1:
            raise YoloxkitError(f"num_classes must be >= 1, got {num_classes}")
        neck = PAFPN(self.depth, self.width, self.depthwise, self.act)
        head_class, model_class = (RotatedYOLOXHead, RotatedYOLOX) if self.rotated else (YOLOXHead, YOLOX)
        head = head_class(num_classes, self.width, neck.out_channels, self.depthwise, self.act)
        return model_class(neck, head)


_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("yolox-nano", 0.33, 0.25, (416, 416), depthwise=True),
        ModelSpec("yolox-tiny", 0.33, 0.375, (416, 416)),
        ModelSpec("yolox-s", 0.33, 0.50, (640, 640)),
        ModelSpec("yolox-m", 0.67, 0.75, (640, 640)),
        ModelSpec("yolox-l", 1.00, 1.00, (640, 640)),
        ModelSpec("yolox-x", 1.33, 1.25, (640, 640)),
        # Rotated YOLOX (ai4rs, DOTA le90): same bodies, 1024 px patches.
        ModelSpec("rotated-yolox-nano", 0.33, 0.25, (1024, 1024), depthwise=True, rotated=True),
        ModelSpec("rotated-yolox-tiny", 0.33, 0.375, (1024, 1024), rotated=True),
        ModelSpec("rotated-yolox-s", 0.33, 0.50, (1024, 1024), rotated=True),
        ModelSpec("rotated-yolox-m", 0.67, 0.75, (1024, 1024), rotated=True),
        ModelSpec("rotated-yolox-l", 1.00, 1.00, (1024, 1024), rotated=True),
        ModelSpec("rotated-yolox-x", 1.33, 1.25, (1024, 1024), rotated=True),
    )
}


def canonical_name(name: str) -> str:
    """Normalise user spellings: ``YOLOX_S``, ``yolox-s`` and ``s`` all mean ``yolox-s``;
    ``rotated_yolox_s`` and ``rotated-s`` mean ``rotated-yolox-s``."""
    key = name.strip().lower().replace("_", "-")
    rotated = key.startswith("rotated-")
    key = key.removeprefix("rotated-")
    if not key.startswith("yolox-"):
        key = f"yolox-{key}"
    return f"rotated-{key}" if rotated else key


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name`` (see :func:`list_models`)."""
    key = canonical_name(name)
    if key not in _SPECS:
        raise YoloxkitError(f"unknown model {name!r}; available: {', '.join(_SPECS)}")
    return _SPECS[key]


def list_models(rotated: bool = False) -> list[str]:
    """Names of the registered axis-aligned models (the Rotated YOLOX ones with ``rotated=True``), smallest first."""
    return [name for name, spec in _SPECS.items() if spec.rotated == rotated]


def create(name: str, num_classes: int = 80) -> YOLOX:
    """Build a registered model, e.g. ``create("yolox-s", num_classes=80)``."""
    return get_spec(name).build(num_classes)
