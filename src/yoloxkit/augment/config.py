"""Parameters of the training pipeline, with the reference's defaults (Megvii ``yolox_base`` Exp).

Every field has the value the reference trains with; :meth:`AugmentConfig.for_model` applies
the per-model differences (yolox-tiny and yolox-nano: 416 input, mosaic scale (0.5, 1.5), no
mixup; yolox-nano: mosaic probability 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import YoloxkitError

#: Fields that differ from the defaults, per model (reference ``YoloxTiny`` / ``YoloxNano`` Exps).
_MODEL_OVERRIDES: dict[str, dict] = {
    "yolox-tiny": {"mosaic_scale": (0.5, 1.5), "enable_mixup": False},
    "yolox-nano": {"mosaic_scale": (0.5, 1.5), "enable_mixup": False, "mosaic_prob": 0.5},
}


@dataclass(frozen=True)
class AugmentConfig:
    """What the training pipeline does; the defaults are the reference's (yolox-s/m/l/x)."""

    input_size: tuple[int, int] = (640, 640)  # (height, width) of every training image
    mosaic_prob: float = 1.0  # share of samples built as a mosaic (the rest: one image, no affine/mixup)
    mosaic_center: tuple[float, float] = (0.5, 1.5)  # mosaic centre ~ U(range) * size, per axis
    mosaic_scale: tuple[float, float] = (0.1, 2.0)  # affine scale ~ U(range)
    degrees: float = 10.0  # affine rotation ~ U(-degrees, degrees)
    translate: float = 0.1  # affine translation ~ U(-translate, translate) * size, per axis
    shear: float = 2.0  # affine shear ~ U(-shear, shear) degrees, per axis
    enable_mixup: bool = True
    mixup_prob: float = 1.0
    mixup_scale: tuple[float, float] = (0.5, 1.5)  # scale jitter of the mixed-in image
    hsv_prob: float = 1.0
    hsv_gains: tuple[int, int, int] = (5, 30, 30)  # max offsets of OpenCV 8-bit H, S, V
    flip_prob: float = 0.5  # horizontal flip
    min_box_side: float = 1.0  # boxes must end with min(w, h) > this (pixels) to be kept
    drop_cut_boxes: bool = False  # drop boxes the mosaic canvas cut to zero area (the reference keeps them)
    max_labels: int = 120  # rows of the padded target array (extra objects are dropped)
    pad_value: int = 114
    no_aug_epochs: int = 15  # last epochs trained without mosaic (and so without affine/mixup)

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise YoloxkitError(f"input_size must be positive multiples of 32, got {self.input_size}")
        for name in ("mosaic_prob", "mixup_prob", "hsv_prob", "flip_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise YoloxkitError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        for name in ("mosaic_center", "mosaic_scale", "mixup_scale"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                raise YoloxkitError(f"{name} must be a range 0 < low <= high, got {getattr(self, name)}")
        for name in ("degrees", "translate", "shear", "min_box_side", "no_aug_epochs"):
            if getattr(self, name) < 0:
                raise YoloxkitError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_labels < 1:
            raise YoloxkitError(f"max_labels must be >= 1, got {self.max_labels}")
        if len(self.hsv_gains) != 3 or min(self.hsv_gains) < 0:
            raise YoloxkitError(f"hsv_gains must be three non-negative numbers, got {self.hsv_gains}")

    @classmethod
    def for_model(cls, name: str, **overrides: object) -> "AugmentConfig":
        """The reference's settings for a model (``yolox-s``, ``nano``, ...), then ``overrides``."""
        from ..models.registry import canonical_name, get_spec

        spec = get_spec(name)
        fields = {"input_size": spec.input_size, **_MODEL_OVERRIDES.get(canonical_name(name), {})}
        return replace(cls(), **{**fields, **overrides})

    def no_aug_start_epoch(self, max_epoch: int) -> int:
        """First 0-based epoch trained without mosaic, as the reference's trainer does it.

        The reference closes mosaic at the start of epoch ``max_epoch - no_aug_epochs - 1``, one
        epoch before its constant-LR phase (so 16 epochs run without mosaic for the default 15).
        """
        return max(max_epoch - self.no_aug_epochs - 1, 0)
