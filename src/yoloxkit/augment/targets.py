"""The last step of every training sample: drop boxes that became too small, pad the labels.

Reference ``TrainTransform``: boxes are kept when ``min(w, h) > 1`` pixel; the labels are rows
``(class, cx, cy, w, h)`` padded with zeros to ``max_labels`` (120) rows, extra objects dropped.
Polygons (``qbox``) are judged by their minimum-area rectangle (both sides > the limit) and must
have their centre inside the image, since they are never clipped; their rows are
``(class, x1, y1, ..., x4, y4)``, or ``(class, cx, cy, w, h, angle)`` after :func:`rbox_rows`
(which the loader workers apply for rotated training, see ``LoaderConfig.rbox_targets``).
"""

from __future__ import annotations

import numpy as np

from ..structures.boxes import BoxFormat, Boxes, convert


def target_format(box_format: BoxFormat) -> BoxFormat:
    """The box columns of the target rows: ``cxcywh`` for axis-aligned data, ``qbox`` for polygons."""
    return BoxFormat.QBOX if box_format == BoxFormat.QBOX else BoxFormat.CXCYWH


def keep_mask(boxes: Boxes, size: tuple[int, int], min_side: float) -> np.ndarray:
    """True for boxes large enough to train on (and, for polygons, centred inside ``size`` (h, w))."""
    if boxes.format == BoxFormat.QBOX:
        rbox = convert(boxes.data, BoxFormat.QBOX, BoxFormat.RBOX)
        inside = (rbox[:, 0] >= 0) & (rbox[:, 0] < size[1]) & (rbox[:, 1] >= 0) & (rbox[:, 1] < size[0])
        return inside & (np.minimum(rbox[:, 2], rbox[:, 3]) > min_side)
    wh = convert(boxes.data, boxes.format, BoxFormat.XYWH)[:, 2:4]
    return np.minimum(wh[:, 0], wh[:, 1]) > min_side


def empty_targets(box_format: BoxFormat, max_labels: int) -> np.ndarray:
    """``[max_labels, 1 + D]`` float32 zeros: the label rows of an image without objects."""
    return np.zeros((max_labels, 1 + target_format(box_format).width), dtype=np.float32)


def pad_targets(boxes: Boxes, classes: np.ndarray, max_labels: int) -> np.ndarray:
    """``[max_labels, 1 + D]`` float32 rows ``(class, box in target_format)``, zero rows after the objects."""
    targets = empty_targets(boxes.format, max_labels)
    n = min(len(classes), max_labels)
    targets[:n, 0] = classes[:n]
    targets[:n, 1:] = convert(boxes.data[:n], boxes.format, target_format(boxes.format))
    return targets


def rbox_rows(targets: np.ndarray) -> np.ndarray:
    """``[N, 9]`` polygon rows ``(class, x1, y1, ..., x4, y4)`` -> ``[N, 6]`` float32 rows
    ``(class, cx, cy, w, h, angle)`` of their le90 minimum-area rectangles (what the rotated loss
    takes); zero (padding) rows stay zero."""
    real = np.abs(targets).sum(1) > 0
    rows = np.zeros((len(targets), 6), dtype=np.float32)
    rows[real, 0] = targets[real, 0]
    rows[real, 1:] = convert(targets[real, 1:].astype(np.float32), BoxFormat.QBOX, BoxFormat.RBOX)
    return rows
