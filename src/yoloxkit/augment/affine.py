"""The random affine map from the mosaic canvas to the training image (reference ``random_affine``).

Parameters: rotation ~ U(-degrees, degrees) and scale ~ U(mosaic_scale) about the ORIGIN of the
canvas, shear ~ U(-shear, shear) degrees per axis (its tangent mixed into the rows), translation
~ U(-translate, translate) * size per axis, set directly as the last column. There is no
centring term (a reference quirk kept on purpose): the output sees roughly the canvas square
``[0, size / scale]``.

Speed: only the part of the canvas that the output can see is ever painted
(:func:`visible_region`), and the warp reads from that part with the matrix shifted accordingly,
which gives the reference's pixels without building the whole 2S x 2S canvas when zoomed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .config import AugmentConfig

#: Extra canvas pixels around the visible region, for the bilinear neighbours of edge samples.
_MARGIN = 2


@dataclass(frozen=True)
class AffineParams:
    """One draw of the random affine: degrees, scale factor, shear degrees, translation fractions."""

    angle: float
    scale: float
    shear_x: float
    shear_y: float
    translate_x: float
    translate_y: float


def sample_affine(rng: np.random.Generator, config: AugmentConfig) -> AffineParams:
    """Draw the parameters with the reference's distributions."""
    return AffineParams(
        angle=rng.uniform(-config.degrees, config.degrees),
        scale=rng.uniform(*config.mosaic_scale),
        shear_x=rng.uniform(-config.shear, config.shear),
        shear_y=rng.uniform(-config.shear, config.shear),
        translate_x=rng.uniform(-config.translate, config.translate),
        translate_y=rng.uniform(-config.translate, config.translate),
    )


def affine_matrix(params: AffineParams, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 matrix (canvas -> output pixels) for an output of ``size`` (height, width)."""
    rotation = cv2.getRotationMatrix2D(center=(0, 0), angle=params.angle, scale=params.scale)
    shear_x = math.tan(params.shear_x * math.pi / 180)
    shear_y = math.tan(params.shear_y * math.pi / 180)
    matrix = np.empty((2, 3))
    matrix[0] = rotation[0] + shear_y * rotation[1]
    matrix[1] = rotation[1] + shear_x * rotation[0]
    matrix[0, 2] = params.translate_x * size[1]
    matrix[1, 2] = params.translate_y * size[0]
    return matrix


def visible_region(matrix: np.ndarray, size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The canvas rectangle ``(x1, y1, x2, y2)`` that an output of ``size`` can sample, or None.

    ``canvas`` is (height, width). The output rectangle is mapped back through the inverse
    matrix; its bounding box, widened by the bilinear margin, is clipped to the canvas.
    """
    inverse = cv2.invertAffineTransform(matrix)
    h, w = size
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
    points = corners @ inverse[:, :2].T + inverse[:, 2]
    x1 = max(math.floor(points[:, 0].min()) - _MARGIN, 0)
    y1 = max(math.floor(points[:, 1].min()) - _MARGIN, 0)
    x2 = min(math.ceil(points[:, 0].max()) + _MARGIN, canvas[1])
    y2 = min(math.ceil(points[:, 1].max()) + _MARGIN, canvas[0])
    if x1 >= x2 or y1 >= y2:
        return None
    return x1, y1, x2, y2


def warp_image(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], origin: tuple[int, int] = (0, 0), pad_value: int = 114
) -> np.ndarray:
    """``cv2.warpAffine`` to ``size`` (bilinear, constant border) of a BGR or BGRA ``image`` whose
    top-left pixel sits at ``origin`` (x, y) of the canvas that ``matrix`` maps from; BGR out.

    The warp runs on 4 channels: OpenCV's bilinear warp is vectorised for 4 channels but not
    for 3, and the BGR result is bit-identical in about 60 % of the time.
    """
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.asarray(origin, dtype=np.float64)
    if image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    warped = cv2.warpAffine(
        image, shifted, (size[1], size[0]), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(pad_value,) * 4,
    )  # fmt: skip
    return cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR)
