"""``audit.html``: the review page of ``yoloxkit audit``: each suspect as a crop of its image with
the label (orange) and the prediction behind the suspicion (blue) drawn, sorted by score,
filterable by kind and class. The crops are inlined; the page opens offline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..data.images import read_image
from ..errors import YoloxkitError
from ..visualize import pixel_box
from .evaluation import page_basics, thumbnail
from .page import write_page

#: Suspects drawn on the page at most (the rest are in audit.json).
MAX_CROPS = 300
LABEL_COLOR, PREDICTION_COLOR = (0, 140, 255), (255, 120, 0)  # BGR
CONTEXT = 0.6  # margin around the boxes, as a share of their size


def _crop(image: np.ndarray, boxes: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """The region around ``boxes`` ([x, y, w, h]) with some context, and its top-left corner."""
    xy = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in boxes], dtype=np.float64)
    x1, y1 = xy[:, :2].min(0)
    x2, y2 = xy[:, 2:].max(0)
    mx, my = CONTEXT * max(x2 - x1, 16), CONTEXT * max(y2 - y1, 16)
    h, w = image.shape[:2]
    left, top = int(np.clip(x1 - mx, 0, w - 1)), int(np.clip(y1 - my, 0, h - 1))
    right, bottom = int(np.clip(x2 + mx, left + 1, w)), int(np.clip(y2 + my, top + 1, h))
    return image[top:bottom, left:right].copy(), np.array([left, top, left, top], dtype=np.float64)


def _draw(canvas: np.ndarray, box: list[float], offset: np.ndarray, color: tuple[int, int, int]) -> None:
    xyxy = np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]]) - offset
    drawn = pixel_box(xyxy, canvas.shape)
    if drawn is not None:
        cv2.rectangle(canvas, drawn[:2], drawn[2:], color, 2, cv2.LINE_AA)


def suspect_card(record: dict, image: np.ndarray | None) -> dict:
    """One suspect as the page shows it: its facts and a drawn crop (None without the image)."""
    evidence = record["evidence"]
    boxes = [record["box"]] + ([evidence["box"]] if "box" in evidence else [])
    src = None
    if image is not None:
        crop, offset = _crop(image, boxes)
        if record["label_index"] is not None:
            _draw(crop, record["box"], offset, LABEL_COLOR)
        if "box" in evidence:
            _draw(crop, evidence["box"], offset, PREDICTION_COLOR)
        scale = 240 / max(crop.shape[:2])
        if scale > 1:  # small objects: enlarge so that the boxes can be seen
            crop = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)), interpolation=cv2.INTER_NEAREST)
        src = thumbnail(crop)
    return record | {"src": src}


def write_audit_report(out: Path, records: list[dict], image_paths: dict[str, Path], names: dict[int, str], data: str) -> Path:
    """Write ``out/audit.html`` for the first :data:`MAX_CROPS` suspects."""
    cards, cache, missing = [], {}, 0
    for record in records[:MAX_CROPS]:
        name = record["image"]
        if name not in cache:
            try:
                cache = {name: read_image(image_paths[name])}  # suspects of one image are often together
            except (YoloxkitError, KeyError):
                cache, missing = {name: None}, missing + 1
        evidence = record["evidence"]
        card = suspect_card(record, cache[name])
        card["predicted"] = names.get(evidence.get("category_id"), None) if "category_id" in evidence else None
        cards.append(card)
    kinds = sorted({c["kind"] for c in records})
    classes = sorted({c["class"] for c in records})
    return write_page(out / "audit.html", "audit.html.j2", cards=cards, total=len(records), kinds=kinds, classes=classes,
                      data=data, unreadable=missing, **page_basics())  # fmt: skip
