"""Per-object box validation shared by ``data check`` (reporting) and ``--fix`` (cleaning)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..structures.boxes import BoxFormat, Boxes, convert
from .model import ImageRecord

#: Objects whose sqrt(area) is below this many pixels count as tiny (YOLOX's finest stride is 8).
TINY_SIDE = 8.0
#: Boxes may cross the border by this many pixels before it is reported (rounding of normalised labels).
BORDER_TOLERANCE = 0.5


@dataclass
class BoxFlags:
    """Boolean masks over one image's objects."""

    nonfinite: np.ndarray
    degenerate: np.ndarray  # zero or negative area
    outside: np.ndarray  # entirely outside the image
    partial: np.ndarray  # crosses the image border by more than BORDER_TOLERANCE
    duplicate: np.ndarray  # same class and coordinates as an earlier object
    tiny: np.ndarray


def box_flags(image: ImageRecord) -> BoxFlags:
    """Validate the boxes of one image against its width and height."""
    ann = image.annotations
    data = ann.boxes.data
    nonfinite = ~np.isfinite(data).all(axis=1)
    safe = np.where(np.isfinite(data), data, 0.0)
    x1, y1, x2, y2 = convert(safe, ann.boxes.format, BoxFormat.XYXY).T
    area = np.asarray(Boxes(safe, ann.boxes.format).area())
    if ann.boxes.format == BoxFormat.XYXY:
        degenerate = (x2 <= x1) | (y2 <= y1)
    else:
        degenerate = area <= 1e-9
    outside = (x1 >= image.width) | (y1 >= image.height) | (x2 <= 0) | (y2 <= 0)
    tol = BORDER_TOLERANCE
    partial = ~outside & ((x1 < -tol) | (y1 < -tol) | (x2 > image.width + tol) | (y2 > image.height + tol))
    duplicate = np.zeros(len(ann), dtype=bool)
    seen: set[tuple] = set()
    for k, row in enumerate(data):
        key = (int(ann.category_ids[k]), *row.tolist())
        duplicate[k] = key in seen
        seen.add(key)
    tiny = ~degenerate & (np.sqrt(np.maximum(area, 0)) < TINY_SIDE)
    others = nonfinite
    return BoxFlags(nonfinite, degenerate & ~others, outside & ~others, partial & ~others, duplicate, tiny & ~others)
