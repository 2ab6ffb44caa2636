"""Moving boxes with their image: affine maps, scale-and-shift, horizontal flip, clipping.

Axis-aligned boxes (``xyxy``) are moved through their four corners and replaced by the enclosing
box, as the reference does. Polygons (``qbox``) move vertex by vertex, so a rotation or shear
moves an oriented box exactly; they are never clipped (clipping a polygon changes its rotated
rectangle), as in the rotated reference, and are filtered by their centre at the end instead.
"""

from __future__ import annotations

import numpy as np

from ..structures.boxes import BoxFormat, Boxes, convert


def _points(boxes: Boxes) -> np.ndarray:
    """``[N, 4, 2]`` vertices: the four corners of ``xyxy`` boxes, the polygon of ``qbox``."""
    if boxes.format == BoxFormat.QBOX:
        return boxes.data.reshape(-1, 4, 2)
    return convert(boxes.data, boxes.format, BoxFormat.QBOX).reshape(-1, 4, 2)


def _from_points(points: np.ndarray, fmt: BoxFormat) -> Boxes:
    flat = points.reshape(-1, 8)
    if fmt == BoxFormat.QBOX:
        return Boxes(flat, fmt)
    return Boxes(convert(flat, BoxFormat.QBOX, BoxFormat.XYXY), fmt)


def warp_boxes(boxes: Boxes, matrix: np.ndarray) -> Boxes:
    """Apply a 2x3 affine ``matrix`` (the one given to ``cv2.warpAffine``) to every box."""
    points = _points(boxes) @ matrix[:, :2].T + matrix[:, 2]
    return _from_points(points, boxes.format)


def scale_shift(boxes: Boxes, scale: float, dx: float = 0.0, dy: float = 0.0) -> Boxes:
    """``x * scale + dx``, ``y * scale + dy`` for every coordinate."""
    data = boxes.data * scale
    data[:, 0::2] += dx
    data[:, 1::2] += dy
    return Boxes(data, boxes.format)


def clip_boxes(boxes: Boxes, width: float, height: float) -> Boxes:
    """Clip ``xyxy`` boxes to ``[0, width] x [0, height]``; polygons are returned unchanged."""
    if boxes.format == BoxFormat.QBOX:
        return boxes
    data = boxes.data.copy()
    np.clip(data[:, 0::2], 0, width, out=data[:, 0::2])
    np.clip(data[:, 1::2], 0, height, out=data[:, 1::2])
    return Boxes(data, boxes.format)


def flip_boxes(boxes: Boxes, width: float) -> Boxes:
    """Mirror left-right in an image ``width`` pixels wide (``x -> width - x``).

    ``xyxy`` corners swap (x1' = W - x2); a polygon keeps its first vertex and its turning
    direction (vertices 1, 4, 3, 2), so clockwise DOTA polygons stay clockwise.
    """
    if boxes.format == BoxFormat.QBOX:
        points = boxes.data.reshape(-1, 4, 2)[:, [0, 3, 2, 1]]  # fancy indexing: a copy
        points[..., 0] = width - points[..., 0]
        return Boxes(points.reshape(-1, 8), boxes.format)
    data = boxes.data.copy()
    data[:, 0], data[:, 2] = width - boxes.data[:, 2], width - boxes.data[:, 0]
    return Boxes(data, boxes.format)
