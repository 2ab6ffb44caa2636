"""Drawings of the worst images: ground truth and predictions at the operating confidence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..files import write_image

from ..data.images import read_image
from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert
from ..visualize import pixel_box
from .result import EvaluationResult

#: BGR colours: found objects, missed objects, true and false positives.
COLORS = {"found": (0, 200, 0), "missed": (0, 165, 255), "tp": (255, 128, 0), "fp": (0, 0, 255)}


def write_gallery(result: EvaluationResult, out: Path, count: int) -> list[Path]:
    """Draw the ``count`` worst images into ``out`` (``01_<file stem>.jpg``, ...); returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for drawing in draw_worst(result, count):
        target = out / f"{drawing.rank:02d}_{Path(drawing.file_name).stem}.jpg"
        write_image(target, drawing.image)
        written.append(target)
    return written


@dataclass
class Drawing:
    """One of the worst images with its objects and detections drawn (BGR)."""

    rank: int
    file_name: str
    image: np.ndarray
    worst: dict  # the worst-images record: image_id, file_name, tp, fp, fn


def draw_worst(result: EvaluationResult, count: int) -> Iterator[Drawing]:
    """The ``count`` worst images, drawn one at a time (an unreadable image raises
    :class:`~yoloxkit.errors.YoloxkitError` naming it)."""
    gt = result.gt
    if gt.root is None:
        raise YoloxkitError("cannot draw the worst images: the ground truth does not say where its images are")
    index = {int(i): n for n, i in enumerate(gt.image_ids)}
    for rank, worst in enumerate(result.worst_images[:count], start=1):
        image = index[worst["image_id"]]
        canvas = read_image(Path(gt.root) / gt.file_names[image])
        _draw_image(canvas, result, image)
        yield Drawing(rank, gt.file_names[image], canvas, worst)


def _draw_image(canvas: np.ndarray, result: EvaluationResult, image: int) -> None:
    gt, dets = result.gt, result.detections
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    objects = np.flatnonzero((gt.image == image) & ~gt.crowd)
    for g in objects:
        status = "found" if result.gt_found[g] else "missed"
        _box(
            canvas,
            gt.xywh[g],
            COLORS[status],
            thickness,
            f"{gt.names[gt.category[g]]}" + ("" if result.gt_found[g] else " MISSED"),
        )
    shown = np.flatnonzero((dets.image == image) & np.isin(result.det_status, ("tp", "fp")))
    for d in shown:
        status = str(result.det_status[d])
        _box(
            canvas,
            dets.xywh[d],
            COLORS[status],
            thickness,
            f"{gt.names[dets.category[d]]} {dets.score[d]:.2f} {status.upper()}",
        )


def _box(canvas: np.ndarray, xywh: np.ndarray, color: tuple[int, int, int], thickness: int, label: str) -> None:
    box = pixel_box(convert(xywh[None], BoxFormat.XYWH, BoxFormat.XYXY)[0], canvas.shape)
    if box is None:  # a non-finite box cannot be drawn (evaluation already left such detections out)
        return
    x1, y1, x2, y2 = box
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
    cv2.putText(canvas, label, (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
