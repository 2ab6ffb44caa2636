"""Exact areas and overlaps of arbitrary quadrilaterals (DOTA polygons) through shapely.

DOTA annotations are 4-point polygons that are not always rectangles (sometimes not even
convex or simple), so the split tool's iof and the devkit's IoU need general polygon clipping;
shapely 2 does it vectorised. A self-intersecting polygon is repaired with ``make_valid`` (the
devkit's ``polyiou`` sums signed triangles instead, so results may differ on such inputs only).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..errors import YoloxkitError


def _shapely() -> ModuleType:
    try:
        import shapely
    except ImportError:
        raise YoloxkitError(
            "the DOTA tools need shapely >= 2 for polygon overlaps: pip install 'shapely>=2'"
        ) from None
    return shapely


def make_polygons(quads: np.ndarray) -> np.ndarray:
    """Shapely polygons (object array ``[N]``) of ``[N, 8]`` corner rows, repaired when invalid."""
    shapely = _shapely()
    polygons = shapely.polygons(np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2))
    invalid = ~shapely.is_valid(polygons)
    if invalid.any():
        polygons[invalid] = shapely.make_valid(polygons[invalid])
    return polygons


def polygon_extents(quads: np.ndarray) -> np.ndarray:
    """``[N, 4]`` axis-aligned extents (x1, y1, x2, y2) of ``[N, 8]`` polygons."""
    xs, ys = quads[:, 0::2], quads[:, 1::2]
    return np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1)


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row-paired quadrilaterals ``[N, 8]``: ``inter / (|A| + |B| - inter)`` as the devkit.

    Only pairs whose axis-aligned extents overlap are clipped (the others have IoU 0); a pair
    with an empty union (two degenerate polygons) has IoU 0.
    """
    shapely = _shapely()
    a, b = np.asarray(a, np.float64).reshape(-1, 8), np.asarray(b, np.float64).reshape(-1, 8)
    ea, eb = polygon_extents(a), polygon_extents(b)
    near = np.flatnonzero(
        (np.minimum(ea[:, 2:], eb[:, 2:]) - np.maximum(ea[:, :2], eb[:, :2]) >= 0).all(1)
    )
    iou = np.zeros(len(a))
    pa, pb = make_polygons(a[near]), make_polygons(b[near])
    inter = shapely.area(shapely.intersection(pa, pb))
    union = shapely.area(pa) + shapely.area(pb) - inter
    iou[near] = np.divide(inter, union, out=np.zeros(len(near)), where=union > 0)
    return iou


def window_iof(quads: np.ndarray, windows: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``[N, M]`` fraction of each polygon's area inside each axis-aligned window ``[M, 4]`` (xyxy).

    As the split tool: only pairs whose axis-aligned extents overlap are clipped; the polygon
    area is floored at ``eps``.
    """
    shapely = _shapely()
    quads = np.asarray(quads, dtype=np.float64).reshape(-1, 8)
    iof = np.zeros((len(quads), len(windows)))
    if not len(quads) or not len(windows):
        return iof
    extents = polygon_extents(quads)
    lt = np.maximum(extents[:, None, :2], windows[None, :, :2])
    rb = np.minimum(extents[:, None, 2:], windows[None, :, 2:])
    rows, cols = np.nonzero(((rb - lt).clip(min=0)).prod(-1) > 0)
    polygons = make_polygons(quads)
    boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
    inter = shapely.area(shapely.intersection(polygons[rows], boxes[cols]))
    iof[rows, cols] = inter / np.maximum(shapely.area(polygons)[rows], eps)
    return iof
