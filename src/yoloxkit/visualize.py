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


def draw_detections(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A copy of the BGR ``image`` with boxes, class names and scores drawn."""
    canvas = image.copy()
    thickness = max(1, round(min(image.shape[:2]) / 300))
    font_scale = max(0.4, min(image.shape[:2]) / 1000)
    detections, _ = detections.finite()
    # Far-away coordinates are pulled to a margin around the canvas: OpenCV's drawing takes
    # 32-bit integers, and a box of 1e30 pixels is drawn exactly as one that ends off-canvas.
    margin = 4 * max(image.shape[:2]) + 16
    boxes = detections.boxes.convert(BoxFormat.XYXY).numpy().data.clip(-margin, margin)
    polygons = detections.boxes.convert(BoxFormat.QBOX).numpy().data.clip(-margin, margin) if detections.boxes.format.oriented else None
    for k, (box, score, cid, name) in enumerate(zip(boxes, detections.scores, detections.class_ids, detections.labels)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
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
