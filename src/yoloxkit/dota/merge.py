"""Patch detections back to full images, as ai4rs ``DOTAMetric.merge_results`` (``rotated-yolox.md`` §5.4).

The offset of a patch comes from its name (``<image>__<window>__<x>___<y>``): it is added to
the box centre (rbox), to every corner (qbox) or to both corners (axis-aligned); there is no
rescaling. All patches of an image are then concatenated and NMS runs per class on full-image
coordinates: exact rotated NMS (IoU threshold 0.1 by default, as the reference) for oriented
boxes, the package's axis-aligned NMS otherwise. No score threshold, no cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import YoloxkitError
from ..ops import batched_nms
from ..ops.rotated import batched_rotated_nms
from ..structures import BoxFormat, Boxes, Detections

#: IoU threshold of the merge NMS (ai4rs ``DOTAMetric``).
MERGE_IOU = 0.1
_OFFSET = re.compile(r"__(\d+)___(\d+)")


@dataclass(frozen=True)
class PatchOrigin:
    """Where a patch comes from: the original image's name and the window's top-left corner."""

    image: str
    x: int
    y: int


def parse_patch_name(name: str) -> PatchOrigin:
    """``P0001__1024__824___0`` (a path or file name works too) -> ``PatchOrigin("P0001", 824, 0)``."""
    stem = Path(name).name
    found = _OFFSET.search(stem)
    if "__" not in stem or found is None:
        raise YoloxkitError(f"{name!r} is not a patch name <image>__<size>__<x>___<y> written by `yoloxkit dota split`")
    return PatchOrigin(stem.split("__", 1)[0], int(found.group(1)), int(found.group(2)))


def shift_boxes(boxes: Boxes, dx: float, dy: float) -> Boxes:
    """The boxes translated by ``(dx, dy)`` in float64 NumPy (full-image coordinates need the precision)."""
    return Boxes(np.asarray(boxes.numpy().data, dtype=np.float64), boxes.format).translate(dx, dy)


def class_nms(boxes: Boxes, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by per-class NMS, by descending score: rotated for oriented boxes (qbox via its
    minimum-area rbox), axis-aligned otherwise. Runs in float64 (full-image coordinates)."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    target = BoxFormat.RBOX if boxes.format.oriented else BoxFormat.XYXY
    data = torch.from_numpy(np.asarray(boxes.convert(target).data, dtype=np.float64))
    score_t = torch.from_numpy(np.asarray(scores, dtype=np.float64))
    groups = torch.from_numpy(np.asarray(class_ids, dtype=np.int64))
    nms = batched_rotated_nms if target == BoxFormat.RBOX else batched_nms
    keep = nms(data, score_t, groups, iou_threshold).numpy()
    return keep[np.argsort(-scores[keep], kind="stable")]


def merge_detections(
    parts: Iterable[tuple[Detections, tuple[float, float]]],
    image_size: tuple[int, int],
    iou_threshold: float = MERGE_IOU,
    source: str | None = None,
    class_agnostic: bool = False,
) -> Detections:
    """Detections of several patches ``(detections, (x, y) offset)`` -> one full-image Detections.

    Oriented parts are merged as rboxes, axis-aligned ones as xyxy; all parts must agree. The NMS
    is per class unless ``class_agnostic``.
    """
    parts = list(parts)
    if not parts:
        raise YoloxkitError(f"no patch detections to merge for {source or 'the image'}")
    # a patch without detections says nothing about the box type (its predictions.json entry has no boxes)
    oriented = {det.boxes.format.oriented for det, _ in parts if len(det)} or {parts[0][0].boxes.format.oriented}
    if len(oriented) > 1:
        raise YoloxkitError(f"cannot merge oriented and axis-aligned detections of {source or 'one image'}")
    target = BoxFormat.RBOX if oriented.pop() else BoxFormat.XYXY
    boxes = Boxes.cat([shift_boxes(det.boxes.convert(target), dx, dy) for det, (dx, dy) in parts])
    scores = np.concatenate([np.asarray(det.scores, np.float64) for det, _ in parts])
    class_ids = np.concatenate([np.asarray(det.class_ids, np.int64) for det, _ in parts])
    keep = class_nms(boxes, scores, class_ids * (not class_agnostic), iou_threshold)
    return Detections(boxes[keep], scores[keep], class_ids[keep], parts[0][0].class_names, image_size, source)


def record_detections(record: Mapping, class_names: Sequence[str]) -> Detections:
    """One ``predictions.json`` record -> Detections (``rbox`` fields when present, else ``box``)."""
    dets = record.get("detections")
    if not isinstance(dets, list):
        raise YoloxkitError(f"predictions record {record.get('file')!r}: no 'detections' list")
    index = {name: i for i, name in enumerate(class_names)}
    try:
        oriented = bool(dets) and all("rbox" in d for d in dets)
        fmt = BoxFormat.RBOX if oriented else BoxFormat.XYXY
        boxes = np.array([d["rbox" if oriented else "box"] for d in dets], dtype=np.float64).reshape(-1, fmt.width)
        scores = np.array([d["score"] for d in dets], dtype=np.float64)
        class_ids = np.array([index[d["class_name"]] for d in dets], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise YoloxkitError(f"predictions record {record.get('file')!r}: bad detection entry ({exc!r})") from None
    size = (int(record.get("height", 0)), int(record.get("width", 0)))
    return Detections(Boxes(boxes, fmt), scores, class_ids, class_names, size, record.get("file"))


def merge_patch_predictions(
    patches: Iterable[Detections], iou_threshold: float = MERGE_IOU
) -> list[Detections]:
    """Patch Detections (``source`` = patch file name) -> one Detections per original image.

    The original image size is taken as the extent the patches cover (padded patches of images
    smaller than the window make it larger than the image).
    """
    groups: dict[str, list[tuple[Detections, tuple[int, int]]]] = {}
    for det in patches:
        origin = parse_patch_name(det.source or "")
        groups.setdefault(origin.image, []).append((det, (origin.x, origin.y)))
    merged = []
    for image, parts in groups.items():
        height = max(det.image_size[0] + y for det, (_, y) in parts)
        width = max(det.image_size[1] + x for det, (x, _) in parts)
        merged.append(merge_detections(parts, (height, width), iou_threshold, image))
    return merged
