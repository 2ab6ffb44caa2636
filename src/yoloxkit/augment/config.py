"""Parameters of the training pipeline, with the reference's defaults (Megvii ``yolox_base`` Exp).

Two recipes share the pipeline. ``recipe="yolox"`` (the default) is the axis-aligned reference:
every field has the value it trains with, and :meth:`AugmentConfig.for_model` applies the
per-model differences (yolox-tiny and yolox-nano: 416 input, mosaic scale (0.5, 1.5), no mixup;
yolox-nano: mosaic probability 0.5). ``recipe="rotated_yolox"`` is ai4rs
``rotated_yolox_s_300e_dota_le90`` (mosaic, random resize, random rotation, crop, HSV,
horizontal/vertical/diagonal flips, pad, mixup), which ``for_model`` returns for every
``rotated-yolox-*`` model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ..errors import YoloxkitError

#: Fields that differ from the defaults, per model (reference ``YoloxTiny`` / ``YoloxNano`` Exps).
_MODEL_OVERRIDES: dict[str, dict] = {
    "yolox-tiny": {"mosaic_scale": (0.5, 1.5), "enable_mixup": False},
    "yolox-nano": {"mosaic_scale": (0.5, 1.5), "enable_mixup": False, "mosaic_prob": 0.5},
}

#: The rotated recipe (ai4rs ``rotated_yolox_s_300e_dota_le90``; the t and m configs share it).
_ROTATED_RECIPE: dict = {
    "recipe": "rotated_yolox",
    "mixup_scale": (1.0, 1.0),  # CachedMixUp ratio_range: no scale jitter
    "flip_prob": 0.25,  # RandomFlip(prob=0.75) over three directions: 0.25 each, none 0.25
    "vertical_flip_prob": 0.25,
    "diagonal_flip_prob": 0.25,
    "min_box_side": 0.0,  # no FilterAnnotations in the rotated pipeline
    "max_labels": 1000,  # DOTA patches hold hundreds of objects (the reference has no cap)
    "rect_obj_classes": ("storage-tank", "roundabout"),  # rect_obj_labels [9, 11] of DOTA-v1.0
}


@dataclass(frozen=True)
class AugmentConfig:
    """What the training pipeline does; the defaults are the reference's (yolox-s/m/l/x)."""

    recipe: Literal["yolox", "rotated_yolox"] = "yolox"  # which reference pipeline (see the module doc)
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
    vertical_flip_prob: float = 0.0  # vertical flip (one direction at most per sample)
    diagonal_flip_prob: float = 0.0  # both axes (a 180-degree turn)
    min_box_side: float = 1.0  # boxes must end with min(w, h) > this (pixels) to be kept
    drop_cut_boxes: bool = False  # drop boxes the mosaic canvas cut to zero area (the reference keeps them)
    max_labels: int = 120  # rows of the padded target array (extra objects are dropped)
    # Box-only copy-paste (augment/copypaste.py; off by default, the reference has none):
    copy_paste_prob: float = 0.0  # share of the images (each mosaic tile, or the single image) that get pastes
    copy_paste_max: int = 3  # at most this many objects pasted per image
    copy_paste_scale: tuple[float, float] = (0.75, 1.25)  # pasted box side = its own side x U(range)
    copy_paste_overlap: float = 0.3  # a paste may hide at most this share of any other box
    copy_paste_balance: float = 1.0  # class choice ~ objects ** (1 - balance): 1 = classes equally, rare ones most
    copy_paste_mask: Literal["box", "ellipse"] = "box"  # ellipse: soft elliptical blend hiding the box edges
    pad_value: int = 114
    no_aug_epochs: int = 15  # last epochs trained without mosaic (and so without affine/mixup)
    # The rotated recipe only (the yolox recipe ignores these):
    resize_ratio: tuple[float, float] = (0.1, 2.0)  # RandomResize: side ~ U(range) * (2x input with mosaic, else 1x)
    rotate_prob: float = 0.5  # RandomRotate probability
    rotate_range: float = 180.0  # angle ~ U[-range, range) degrees, positive clockwise on screen
    rect_obj_classes: tuple[str, ...] = ()  # class NAMES turned only by 90-degree multiples when present
    rotate_border_value: int = 0  # fill outside the rotated image (mmcv imrotate: black)

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise YoloxkitError(f"input_size must be positive multiples of 32, got {self.input_size}")
        if self.recipe not in ("yolox", "rotated_yolox"):
            raise YoloxkitError(f"recipe must be 'yolox' or 'rotated_yolox', got {self.recipe!r}")
        for name in ("mosaic_prob", "mixup_prob", "hsv_prob", "flip_prob", "vertical_flip_prob", "diagonal_flip_prob",
                     "rotate_prob", "copy_paste_prob", "copy_paste_overlap", "copy_paste_balance"):  # fmt: skip
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise YoloxkitError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        flips = self.flip_prob + self.vertical_flip_prob + self.diagonal_flip_prob
        if flips > 1.0 + 1e-9:
            raise YoloxkitError(f"flip_prob + vertical_flip_prob + diagonal_flip_prob must be <= 1, got {flips:g}")
        if self.copy_paste_max < 1 or self.copy_paste_mask not in ("box", "ellipse"):
            raise YoloxkitError(f"copy_paste_max must be >= 1 and copy_paste_mask box or ellipse, got {self.copy_paste_max}, {self.copy_paste_mask!r}")
        for name in ("mosaic_center", "mosaic_scale", "mixup_scale", "resize_ratio", "copy_paste_scale"):
            low, high = getattr(self, name)
            if not 0.0 < low <= high:
                raise YoloxkitError(f"{name} must be a range 0 < low <= high, got {getattr(self, name)}")
        for name in ("degrees", "translate", "shear", "min_box_side", "no_aug_epochs", "rotate_range"):
            if getattr(self, name) < 0:
                raise YoloxkitError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_labels < 1:
            raise YoloxkitError(f"max_labels must be >= 1, got {self.max_labels}")
        if len(self.hsv_gains) != 3 or min(self.hsv_gains) < 0:
            raise YoloxkitError(f"hsv_gains must be three non-negative numbers, got {self.hsv_gains}")
        if not all(isinstance(name, str) and name for name in self.rect_obj_classes):
            raise YoloxkitError(f"rect_obj_classes must be class names, got {self.rect_obj_classes}")

    @classmethod
    def for_model(cls, name: str, **overrides: object) -> "AugmentConfig":
        """The reference's settings for a model (``yolox-s``, ``nano``, ``rotated-yolox-s``, ...), then ``overrides``.

        Every ``rotated-yolox-*`` model gets the rotated recipe (ai4rs publishes it for t, s and m,
        which share it unchanged; nano, l and x use it too).
        """
        from ..models.registry import canonical_name, get_spec

        spec = get_spec(name)
        recipe = _ROTATED_RECIPE if spec.rotated else _MODEL_OVERRIDES.get(canonical_name(name), {})
        fields = {"input_size": spec.input_size, **recipe}
        return replace(cls(), **{**fields, **overrides})

    def no_aug_start_epoch(self, max_epoch: int) -> int:
        """First 0-based epoch trained without mosaic, as the reference's trainer does it.

        The YOLOX reference closes mosaic at the start of epoch ``max_epoch - no_aug_epochs - 1``,
        one epoch before its constant-LR phase (so 16 epochs run without mosaic for the default
        15). The rotated reference switches its pipeline at ``max_epoch - no_aug_epochs``
        (mmdet ``PipelineSwitchHook(switch_epoch=285)`` of 300).
        """
        late = 0 if self.recipe == "rotated_yolox" else 1
        return max(max_epoch - self.no_aug_epochs - late, 0)
