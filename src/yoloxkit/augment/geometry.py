"""Moving boxes with their image: affine maps, scale-and-shift, flips, clipping, centre tests.

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
    """The boxes scaled by ``scale`` (about the origin), then moved by ``(dx, dy)``."""
    return boxes.scale(scale).translate(dx, dy)


def clip_boxes(boxes: Boxes, width: float, height: float) -> Boxes:
    """Clip ``xyxy`` boxes to ``[0, width] x [0, height]``; polygons are returned unchanged."""
    if boxes.format == BoxFormat.QBOX:
        return boxes
    data = boxes.data.copy()
    np.clip(data[:, 0::2], 0, width, out=data[:, 0::2])
    np.clip(data[:, 1::2], 0, height, out=data[:, 1::2])
    return Boxes(data, boxes.format)


def reflect_boxes(boxes: Boxes, width: float | None = None, height: float | None = None) -> Boxes:
    """Mirror left-right in an image ``width`` wide (``x -> width - x``), top-bottom in one ``height``
    high (``y -> height - y``), or both at once (diagonal flip, a 180-degree turn).

    ``xyxy`` corners swap (x1' = W - x2). A polygon keeps its first vertex; a one-axis mirror also
    keeps its turning direction (vertices 1, 4, 3, 2), so clockwise DOTA polygons stay clockwise,
    and the diagonal flip, a rotation, keeps the vertex order as it is.
    """
    if width is None and height is None:
        raise ValueError("reflect_boxes needs a width, a height or both")
    if boxes.format == BoxFormat.QBOX:
        points = boxes.data.reshape(-1, 4, 2).copy()
        if (width is None) != (height is None):
            points = points[:, [0, 3, 2, 1]]
        if width is not None:
            points[..., 0] = width - points[..., 0]
        if height is not None:
            points[..., 1] = height - points[..., 1]
        return Boxes(points.reshape(-1, 8), boxes.format)
    data = boxes.data.copy()
    if width is not None:
        data[:, 0], data[:, 2] = width - boxes.data[:, 2], width - boxes.data[:, 0]
    if height is not None:
        data[:, 1], data[:, 3] = height - boxes.data[:, 3], height - boxes.data[:, 1]
    return Boxes(data, boxes.format)


def flip_boxes(boxes: Boxes, width: float) -> Boxes:
    """Mirror left-right in an image ``width`` pixels wide (``x -> width - x``); see :func:`reflect_boxes`."""
    return reflect_boxes(boxes, width=width)


def centres(boxes: Boxes) -> np.ndarray:
    """``[N, 2]`` box centres: of the minimum-area rectangle for polygons (the reference's rbox), else the middle."""
    if boxes.format == BoxFormat.QBOX:
        return convert(boxes.data, BoxFormat.QBOX, BoxFormat.RBOX)[:, :2]
    return convert(boxes.data, boxes.format, BoxFormat.CXCYWH)[:, :2]


def centres_inside(boxes: Boxes, shape: tuple[int, int]) -> np.ndarray:
    """True for boxes whose centre lies strictly inside an image of ``shape`` (h, w) (``is_inside`` of mmrotate)."""
    c = centres(boxes)
    return (c[:, 0] > 0) & (c[:, 0] < shape[1]) & (c[:, 1] > 0) & (c[:, 1] < shape[0])
