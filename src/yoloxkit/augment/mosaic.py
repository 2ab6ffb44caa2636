"""Mosaic: four images around a random centre of a 2H x 2W canvas (reference ``MosaicDetection``).

The centre is ``(int(U(lo, hi) * W), int(U(lo, hi) * H))`` with ``mosaic_center = (lo, hi)``
(0.5, 1.5). Image 0 has its bottom-right corner at the centre, image 1 its bottom-left, image 2
its top-right and image 3 its top-left; parts beyond the canvas are cut. Boxes move with their
image; axis-aligned boxes are clipped to the canvas. Only the canvas part that the affine output
can see is painted, and only the images overlapping it are decoded: the pixels are the
reference's, with about 30 % fewer decodes (2.5 of 4 tiles visible on average at the default
scale range).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..structures.boxes import Boxes
from .affine import visible_region, warp_image
from .fit import fit_image, fit_scale
from .geometry import clip_boxes, scale_shift
from .sample import SampleSource

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2


@dataclass(frozen=True)
class Tile:
    """Where one image lands: ``canvas`` rectangle and the equally sized ``source`` rectangle."""

    canvas: Rect
    source: Rect

    @property
    def offset(self) -> tuple[int, int]:
        """Canvas position of the image's pixel (0, 0)."""
        return self.canvas[0] - self.source[0], self.canvas[1] - self.source[1]


def sample_centre(rng: np.random.Generator, center_range: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """The mosaic centre ``(xc, yc)`` on the 2H x 2W canvas for an output of ``size`` (h, w)."""
    yc = int(rng.uniform(center_range[0] * size[0], center_range[1] * size[0]))
    xc = int(rng.uniform(center_range[0] * size[1], center_range[1] * size[1]))
    return xc, yc


def place_tile(position: int, centre: tuple[int, int], shape: tuple[int, int], size: tuple[int, int]) -> Tile:
    """The placement of an image of ``shape`` (h, w) as tile ``position`` (0..3) around ``centre``."""
    xc, yc = centre
    h, w = shape
    left = position in (0, 2)  # the image lies left of the centre
    top = position in (0, 1)  # the image lies above the centre
    x1, x2 = (max(xc - w, 0), xc) if left else (xc, min(xc + w, 2 * size[1]))
    y1, y2 = (max(yc - h, 0), yc) if top else (yc, min(yc + h, 2 * size[0]))
    sx1 = w - (x2 - x1) if left else 0
    sy1 = h - (y2 - y1) if top else 0
    return Tile((x1, y1, x2, y2), (sx1, sy1, sx1 + x2 - x1, sy1 + y2 - y1))


def overlaps(a: Rect, b: Rect) -> bool:
    """True when two rectangles share some area."""
    return max(a[0], b[0]) < min(a[2], b[2]) and max(a[1], b[1]) < min(a[3], b[3])


def paint(images: list[np.ndarray | None], tiles: list[Tile], region: Rect, pad_value: int = 114) -> np.ndarray:
    """The canvas restricted to ``region``: padding, with the part of each tile inside it copied in.

    The canvas has 4 channels (BGR plus an unused fourth), ready for the vectorised 4-channel
    warp of :func:`~yoloxkit.augment.affine.warp_image`; tiles are widened while they are copied.
    Tiles that do not overlap ``region`` are skipped; their image may be None (never decoded).
    """
    rx1, ry1, rx2, ry2 = region
    canvas = np.full((ry2 - ry1, rx2 - rx1, 4), pad_value, dtype=np.uint8)
    for image, tile in zip(images, tiles):
        if not overlaps(tile.canvas, region):
            continue
        x1, y1 = max(tile.canvas[0], rx1), max(tile.canvas[1], ry1)
        x2, y2 = min(tile.canvas[2], rx2), min(tile.canvas[3], ry2)
        ox, oy = tile.offset
        part = image[y1 - oy : y2 - oy, x1 - ox : x2 - ox]
        cv2.cvtColor(part, cv2.COLOR_BGR2BGRA, dst=canvas[y1 - ry1 : y2 - ry1, x1 - rx1 : x2 - rx1])
    return canvas


def mosaic_boxes(boxes: list[Boxes], tiles: list[Tile], scales: list[float], size: tuple[int, int]) -> Boxes:
    """All tiles' boxes on the canvas, each scaled by its tile's fit scale and shifted to its place.

    Axis-aligned boxes are clipped to the 2H x 2W canvas; polygons are kept whole.
    """
    moved = [scale_shift(b, scale, *tile.offset) for b, tile, scale in zip(boxes, tiles, scales)]
    joined = Boxes.cat(moved)
    return clip_boxes(joined, 2 * size[1], 2 * size[0])


@dataclass(frozen=True)
class MosaicLayout:
    """Where the four images of a mosaic go, and their objects on the 2H x 2W canvas."""

    indices: list[int]
    tiles: list[Tile]
    boxes: Boxes
    classes: np.ndarray


def layout_mosaic(source: SampleSource, indices: list[int], centre: tuple[int, int], size: tuple[int, int]) -> MosaicLayout:
    """Tiles and canvas objects of images ``indices`` (positions 0..3) around ``centre``; nothing is decoded.

    Every image is refitted to ``size`` first, as the reference does.
    """
    tiles, scales, boxes, classes = [], [], [], []
    for position, i in enumerate(indices):
        scale, height, width = fit_scale(*source.shape(i), size)
        tiles.append(place_tile(position, centre, (height, width), size))
        scales.append(scale)
        tile_boxes, tile_classes = source.objects(i)
        boxes.append(tile_boxes)
        classes.append(tile_classes)
    return MosaicLayout(list(indices), tiles, mosaic_boxes(boxes, tiles, scales, size), np.concatenate(classes))


def render_mosaic(
    source: SampleSource, layout: MosaicLayout, matrix: np.ndarray, out_shape: tuple[int, int], size: tuple[int, int],
    pad_value: int = 114, border_value: int = 114,
) -> np.ndarray:  # fmt: skip
    """The canvas warped by ``matrix`` (2x3, canvas pixels -> output pixels) into an ``out_shape`` (h, w) image.

    Only the tiles that overlap the canvas part the output can see are decoded and painted;
    canvas pixels without an image are ``pad_value``, output pixels beyond the canvas
    ``border_value``. ``size`` is the input size the tiles were fitted to.
    """
    region = visible_region(matrix, out_shape, (2 * size[0], 2 * size[1]))
    if region is None:
        return np.full((*out_shape, 3), border_value, dtype=np.uint8)
    images = [fit_image(source.image(i), size)[0] if overlaps(tile.canvas, region) else None
              for i, tile in zip(layout.indices, layout.tiles)]  # fmt: skip
    return warp_image(paint(images, layout.tiles, region, pad_value), matrix, out_shape, region[:2], border_value)
