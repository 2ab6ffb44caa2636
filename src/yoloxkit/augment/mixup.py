"""MixUp: blend a second, letterboxed and jittered image into the sample (reference ``MosaicDetection.mixup``).

The other image is letterboxed to the input size (the preprocessing contract's
:func:`~yoloxkit.data.preprocess.letterbox`), resized by ``jit ~ U(mixup_scale)``, mirrored with
probability 0.5, placed at the top-left of a black canvas at least as large as the sample and
cropped back to the sample's size at a random offset. The result is ``floor((a + b) / 2)`` per
pixel (the reference's float blend truncated to uint8, computed exactly in integers) and the
union of both objects; boxes of the other image are clipped to what it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..data.preprocess import letterbox
from ..structures.boxes import Boxes
from .geometry import clip_boxes, flip_boxes, scale_shift
from .sample import Sample


@dataclass(frozen=True)
class MixupParams:
    """One draw: scale jitter, mirror, crop offset (x, y) into the jittered image."""

    scale: float
    flip: bool
    x_offset: int
    y_offset: int


def sample_mixup(rng: np.random.Generator, scale_range: tuple[float, float], size: tuple[int, int]) -> MixupParams:
    """Draw the parameters for mixing a ``size`` (h, w) letterbox into a sample of the same size."""
    scale = rng.uniform(*scale_range)
    flip = bool(rng.uniform(0, 1) > 0.5)
    jittered_h, jittered_w = int(size[0] * scale), int(size[1] * scale)
    # Offsets in [0, excess - 1], exactly the reference's randint(0, excess - 1), when the image overhangs.
    y_offset = int(rng.integers(0, jittered_h - size[0])) if jittered_h > size[0] else 0
    x_offset = int(rng.integers(0, jittered_w - size[1])) if jittered_w > size[1] else 0
    return MixupParams(scale, flip, x_offset, y_offset)


def blend_half(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``floor((a + b) / 2)`` of two uint8 images, without leaving uint8: ``(a & b) + ((a ^ b) >> 1)``."""
    return cv2.add(cv2.bitwise_and(a, b), np.right_shift(cv2.bitwise_xor(a, b), 1))


def mixup(sample: Sample, other: Sample, params: MixupParams, pad_value: int = 114) -> Sample:
    """Blend ``other`` (a fitted image with objects) into ``sample``; boxes and classes are joined."""
    size = sample.image.shape[:2]
    canvas, r = letterbox(other.image, size, pad_value)
    jittered_w, jittered_h = int(canvas.shape[1] * params.scale), int(canvas.shape[0] * params.scale)
    jittered = cv2.resize(canvas, (jittered_w, jittered_h), interpolation=cv2.INTER_LINEAR)
    boxes = clip_boxes(scale_shift(other.boxes, r * params.scale), jittered_w, jittered_h)
    if params.flip:
        jittered = cv2.flip(jittered, 1)
        boxes = flip_boxes(boxes, jittered_w)
    crop = np.zeros_like(sample.image)
    window = jittered[params.y_offset : params.y_offset + size[0], params.x_offset : params.x_offset + size[1]]
    crop[: window.shape[0], : window.shape[1]] = window
    boxes = clip_boxes(scale_shift(boxes, 1.0, -params.x_offset, -params.y_offset), size[1], size[0])
    joined = Boxes.cat([sample.boxes, boxes])
    return Sample(blend_half(sample.image, crop), joined, np.concatenate([sample.classes, other.classes]))
