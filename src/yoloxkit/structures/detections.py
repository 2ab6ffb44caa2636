"""Per-image detection results as users receive them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .boxes import BoxFormat, Boxes


@dataclass
class Detections:
    """Detections of one image: boxes in original-image pixels, scores, classes.

    ``scores`` is objectness x class probability, as in the reference.
    """

    boxes: Boxes
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: Sequence[str]
    image_size: tuple[int, int]  # (height, width) of the original image
    source: str | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> "Detections":
        """The detections where the boolean mask ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        data = self.boxes.numpy().data[keep]
        return Detections(Boxes(data, self.boxes.format), self.scores[keep], self.class_ids[keep], self.class_names, self.image_size, self.source)

    def finite(self) -> tuple["Detections", int]:
        """The detections with finite boxes and scores, and how many were dropped.

        A model early in training (or any model on odd input) can give infinite or NaN boxes, or
        corners so far apart that the width overflows; they mean nothing and break JSON,
        drawings, evaluation and other tools.
        """
        boxes = self.boxes.numpy()
        keep = np.asarray(boxes.finite()) & np.isfinite(np.asarray(self.scores, dtype=np.float64))
        if not boxes.format.oriented:  # finite corners whose width overflows (float32 +-1e38) are no box either
            with np.errstate(over="ignore", invalid="ignore"):
                keep &= np.isfinite(boxes.convert(BoxFormat.XYWH).data).all(axis=1)
        return (self, 0) if keep.all() else (self.select(keep), int((~keep).sum()))

    def clipped(self) -> "Detections":
        """Axis-aligned boxes clipped to the image (as detectron2 and Ultralytics report them)."""
        return Detections(self.boxes.numpy().clip(self.image_size), self.scores, self.class_ids, self.class_names, self.image_size, self.source)

    def for_output(self) -> tuple["Detections", int]:
        """What people look at and other tools read: finite detections, boxes clipped to the image.

        Returns the cleaned detections and the number dropped as non-finite. Evaluation and
        COCO results files use the unclipped boxes (the reference's convention, so that
        published AP is reproduced exactly).
        """
        finite, dropped = self.finite()
        return finite.clipped(), dropped

    @property
    def labels(self) -> list[str]:
        """Class name of each detection."""
        return [self.class_names[i] for i in self.class_ids.tolist()]

    def to_dict(self) -> dict:
        """JSON-ready dict: file, width, height and a list of detections.

        Each detection has ``box`` (xyxy; the enclosing box for oriented detections) and, for
        oriented detections, ``rbox`` (cx, cy, w, h, angle in radians) and ``polygon`` (4 corners).
        """
        xyxy = self.boxes.convert(BoxFormat.XYXY).tolist()
        entries = [
            {"box": box, "score": float(score), "class_id": int(cid), "class_name": name}
            for box, score, cid, name in zip(xyxy, self.scores.tolist(), self.class_ids.tolist(), self.labels)
        ]
        if self.boxes.format.oriented:
            rboxes, polygons = self.boxes.convert(BoxFormat.RBOX).tolist(), self.boxes.convert(BoxFormat.QBOX).tolist()
            for entry, rbox, polygon in zip(entries, rboxes, polygons):
                entry["rbox"], entry["polygon"] = rbox, polygon
        return {"file": self.source, "width": int(self.image_size[1]), "height": int(self.image_size[0]), "detections": entries}

    def to_coco(self, image_id: int, category_ids: Sequence[int] | None = None) -> list[dict]:
        """COCO results entries (bbox = x, y, w, h); ``category_ids`` maps class index -> id."""
        xywh = self.boxes.convert(BoxFormat.XYWH).tolist()
        ids = self.class_ids.tolist()
        return [
            {
                "image_id": image_id,
                "category_id": int(category_ids[cid]) if category_ids is not None else int(cid),
                "bbox": box,
                "score": float(score),
            }
            for box, cid, score in zip(xywh, ids, self.scores.tolist())
        ]

    def to_yolo_lines(self, with_scores: bool = False) -> list[str]:
        """YOLO txt lines ``class cx cy w h [score]`` normalised to the image size."""
        h, w = self.image_size
        cxcywh = self.boxes.convert(BoxFormat.CXCYWH).numpy().data / np.array([w, h, w, h], dtype=np.float32)
        lines = []
        for cid, box, score in zip(self.class_ids.tolist(), cxcywh.tolist(), self.scores.tolist()):
            fields = [str(cid), *(f"{v:.6f}" for v in box)]
            if with_scores:
                fields.append(f"{score:.5f}")
            lines.append(" ".join(fields))
        return lines
