"""Drawing detections on images."""

from __future__ import annotations

import cv2
import numpy as np

from .structures import BoxFormat, Detections


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-ratio hue walk)."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def drawable_margin(shape: tuple[int, ...]) -> int:
    """How far off the canvas coordinates are kept when drawing: OpenCV's drawing takes 32-bit
    integers, and a box of 1e30 pixels is drawn exactly as one that ends off-canvas."""
    return 4 * max(shape[:2]) + 16


def pixel_box(xyxy: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """``(x1, y1, x2, y2)`` as integers OpenCV can draw on an image of ``shape``: far-away
    coordinates pulled to :func:`drawable_margin`; None when a coordinate is not finite."""
    values = np.asarray(xyxy, dtype=np.float64)
    if not np.isfinite(values).all():
        return None
    margin = drawable_margin(shape)
    x1, y1, x2, y2 = (int(round(float(v))) for v in values.clip(-margin, margin))
    return x1, y1, x2, y2


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of the BGR ``image`` with boxes, class names and scores drawn."""
    canvas = image.copy()
    thickness = max(1, round(min(image.shape[:2]) / 300))
    font_scale = max(0.4, min(image.shape[:2]) / 1000)
    detections, _ = detections.finite()
    margin = drawable_margin(image.shape)
    boxes = detections.boxes.convert(BoxFormat.XYXY).numpy().data
    polygons = detections.boxes.convert(BoxFormat.QBOX).numpy().data.clip(-margin, margin) if detections.boxes.format.oriented else None
    for k, (box, score, cid, name) in enumerate(zip(boxes, detections.scores, detections.class_ids, detections.labels)):
        x1, y1, x2, y2 = pixel_box(box, image.shape)  # finite: non-finite detections were dropped
        color = class_color(int(cid))
        if polygons is None:
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        else:  # oriented: the rotated polygon, the label above its enclosing box
            cv2.polylines(canvas, [polygons[k].reshape(4, 2).round().astype(np.int32)], True, color, thickness, cv2.LINE_AA)
        label = f"{name} {score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + base + 2), color, -1)
        cv2.putText(canvas, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
