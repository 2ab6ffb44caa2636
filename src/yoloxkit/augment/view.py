"""Random resize -> random rotation -> random crop of the rotated recipe, as ONE affine map.

mmdet ``RandomResize(ratio_range=(0.1, 2.0), keep_ratio=True)`` scales an image (the 2H x 2W
mosaic canvas, or the image alone without mosaic) towards ``int(base * ratio)`` per side,
``ratio ~ U(range)``, keeping its aspect (mmcv ``imrescale``: factor ``min(long / long_side,
short / short_side)``, sides ``int(side * factor + 0.5)``); ai4rs ``RandomRotate`` turns it about
its centre on the same canvas (:mod:`.rotate`); mmdet ``RandomCrop`` cuts ``min(input, side)``
per axis at an offset ``~ randint(0, margin + 1)`` (height first). yoloxkit draws the three in
that order and composes them into one 2x3 matrix from the source image to the crop, so a single
warp produces the crop without building the resized canvas (up to 4096 x 4096 at ratio 2):
one bilinear interpolation instead of two, and only the pixels that are kept.

Box coordinates are pixel-edge ones (pixel ``i`` covers ``[i, i + 1)``), which is how boxes
scale with ``cv2.resize``; :func:`pixel_matrix` converts a matrix to the pixel-index convention
of ``cv2.warpAffine``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import AugmentConfig
from .rotate import rotation_matrix, sample_rotation


@dataclass(frozen=True)
class View:
    """One draw: ``matrix`` (2x3, source edge coordinates -> crop), crop ``shape`` (h, w), ``angle`` degrees."""

    matrix: np.ndarray
    shape: tuple[int, int]
    angle: float


def resized_shape(shape: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` of an image of ``shape`` rescaled towards ``target`` (h, w) keeping its aspect (mmcv ``imrescale``)."""
    h, w = shape
    factor = min(max(target) / max(h, w), min(target) / min(h, w))
    return max(int(h * factor + 0.5), 1), max(int(w * factor + 0.5), 1)


def sample_resize(
    rng: np.random.Generator, ratio_range: tuple[float, float], shape: tuple[int, int], base: tuple[int, int]
) -> tuple[int, int]:
    """The resized ``(h, w)`` of an image of ``shape``: target ``int(base * ratio)``, ratio ~ U(ratio_range)."""
    ratio = rng.random() * (ratio_range[1] - ratio_range[0]) + ratio_range[0]
    return resized_shape(shape, (int(base[0] * ratio), int(base[1] * ratio)))


def sample_crop(rng: np.random.Generator, shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x, y, h, w)`` of a random crop of at most ``size`` (h, w) from an image of ``shape`` (mmdet absolute crop)."""
    h, w = min(size[0], shape[0]), min(size[1], shape[1])
    y = int(rng.integers(0, shape[0] - h + 1))
    x = int(rng.integers(0, shape[1] - w + 1))
    return x, y, h, w


def compose(resized: tuple[int, int], shape: tuple[int, int], angle: float, crop: tuple[int, int, int, int]) -> np.ndarray:
    """The 2x3 edge-coordinate map: scale ``shape`` -> ``resized``, rotate about its centre, shift by the crop."""
    scale = np.diag([resized[1] / shape[1], resized[0] / shape[0], 1.0])
    rotate = np.vstack([rotation_matrix(angle, resized[1], resized[0]), [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, -crop[0]], [0.0, 1.0, -crop[1]], [0.0, 0.0, 1.0]])
    return (shift @ rotate @ scale)[:2]


def draw_view(
    rng: np.random.Generator, config: AugmentConfig, shape: tuple[int, int], base: tuple[int, int],
    classes: np.ndarray, rect_classes: np.ndarray,
) -> View:  # fmt: skip
    """Resize (towards ``base`` times the ratio), rotation (given the sample's ``classes``) and crop of an image of ``shape``."""
    resized = sample_resize(rng, config.resize_ratio, shape, base)
    angle = sample_rotation(rng, config.rotate_prob, config.rotate_range, classes, rect_classes)
    crop = sample_crop(rng, resized, config.input_size)
    return View(compose(resized, shape, angle, crop), crop[2:], angle)


def pixel_matrix(matrix: np.ndarray) -> np.ndarray:
    """The same map for pixel indices (``cv2.warpAffine``): ``x_i = u - 0.5`` on both sides."""
    out = matrix.copy()
    out[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return out


def pad_image(image: np.ndarray, size: tuple[int, int], value: int) -> np.ndarray:
    """``image`` padded at the bottom and right to ``size`` (h, w) with ``value`` (mmdet ``Pad``)."""
    if image.shape[:2] == tuple(size):
        return image
    out = np.full((*size, 3), value, dtype=np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out
