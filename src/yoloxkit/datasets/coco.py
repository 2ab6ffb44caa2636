"""COCO JSON: ``annotations/instances_<split>.json`` with images in ``<split>/`` (the reference layout).

Reading keeps image ids, extra image fields (as ``meta``), ``iscrowd`` and the common
``difficult`` / ``truncated`` extensions. Oriented datasets are stored losslessly as one 8-number
``segmentation`` polygon per annotation, marked by ``info.box_format = "qbox"``; ``bbox`` then
holds the enclosing box so that ordinary COCO tools still work. Segmentation masks of ordinary
COCO files are not kept (boxes only); the report counts them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..structures.boxes import BoxFormat, convert
from .fileio import json_number, parse_json, read_text, write_text
from .model import Annotations, Category, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare

CAPABILITIES = Capabilities("coco", iscrowd=True, difficult=True, truncated=True, oriented=True, category_ids=True)
_IMAGE_KEYS = ("id", "file_name", "width", "height")


def split_name(path: Path) -> str:
    """``instances_train2017.json`` -> ``train2017``; other names -> their stem."""
    stem = path.stem
    return stem[len("instances_") :] if stem.startswith("instances_") else stem


def _image_root(path: Path, name: str, first_file: str | None) -> Path:
    """Where the images of ``path`` lie: the reference layout first, then common alternatives."""
    here, parent = path.parent, path.parent.parent
    candidates = [parent / name, parent / "images" / name, parent / "images", parent, here / name, here / "images", here]
    if first_file is not None:
        for folder in candidates:
            if (folder / first_file).is_file():
                return folder
    return candidates[0]


def _number_list(value: Any, length: int) -> list[float] | None:
    if not isinstance(value, list) or len(value) != length:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


def _parse_categories(data: dict, path: Path, report: Report) -> list[Category]:
    categories: list[Category] = []
    seen: set[int] = set()
    for i, entry in enumerate(data.get("categories") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or "name" not in entry:
            report.error("bad-category", path, f"categories[{i}]: needs an integer 'id' and a 'name'")
            continue
        if entry["id"] in seen:
            report.error("bad-category", path, f"categories[{i}]: duplicate category id {entry['id']}")
            continue
        seen.add(entry["id"])
        categories.append(Category(entry["id"], str(entry["name"]), str(entry.get("supercategory", ""))))
    return sorted(categories, key=lambda c: c.id)


def _parse_images(data: dict, path: Path, report: Report) -> dict[int, dict]:
    """Image id -> its JSON entry, validated."""
    images: dict[int, dict] = {}
    for i, entry in enumerate(data.get("images") or []):
        if not isinstance(entry, dict) or any(k not in entry for k in _IMAGE_KEYS):
            report.error("bad-image", path, f"images[{i}]: needs {', '.join(_IMAGE_KEYS)}")
            continue
        if entry["id"] in images:
            report.error("bad-image", path, f"images[{i}]: duplicate image id {entry['id']}")
            continue
        images[entry["id"]] = entry
    return images


def read_coco(path: Path, report: Report, image_root: Path | None = None) -> Dataset:
    """Read one COCO JSON file as a one-split dataset (split named after the file)."""
    text = read_text(path)
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        report.error("parse", path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno)
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        report.error("parse", path, "not a COCO detection file (no 'images' list)")
        data = {"images": []}
    for key in ("categories", "annotations"):
        if not isinstance(data.get(key) or [], list):
            report.error("parse", path, f"not a COCO detection file ('{key}' is not a list)")
            data = {**data, key: []}
    oriented = (data.get("info") or {}).get("box_format") == BoxFormat.QBOX.value
    box_format = BoxFormat.QBOX if oriented else BoxFormat.XYXY
    categories = _parse_categories(data, path, report)
    known = {c.id for c in categories}
    images = _parse_images(data, path, report)
    rows: dict[int, list] = {image_id: [] for image_id in images}
    masks = 0
    for i, ann in enumerate(data.get("annotations") or []):
        where = f"annotations[{i}]" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
        if not isinstance(ann, dict):
            report.error("bad-annotation", path, f"{where}: not an object")
            continue
        if ann.get("image_id") not in rows:
            report.error("unknown-image", path, f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
            continue
        if ann.get("category_id") not in known:
            report.error("unknown-category", path, f"{where}: category_id {ann.get('category_id')!r} is not in 'categories'")
            continue
        box = _annotation_box(ann, oriented)
        if box is None:
            expected = "one 8-number polygon in 'segmentation'" if oriented else "'bbox' [x, y, w, h]"
            report.error("bad-box", path, f"{where}: needs {expected}")
            continue
        if not all(math.isfinite(v) for v in box):
            report.error("bad-box", path, f"{where}: non-finite coordinates {box}")
            continue
        masks += int(not oriented and bool(ann.get("segmentation")))
        flags = (bool(ann.get("iscrowd", 0)), bool(ann.get("difficult", 0)), bool(ann.get("truncated", 0)))
        area = ann.get("area")
        area = float(area) if isinstance(area, (int, float)) and not isinstance(area, bool) and math.isfinite(area) else None
        rows[ann["image_id"]].append((box, ann["category_id"], *flags, area))
    if masks:
        report.counts["segmentations_not_kept"] = report.counts.get("segmentations_not_kept", 0) + masks
    records = [
        ImageRecord(
            str(entry["file_name"]),
            int(entry["width"]),
            int(entry["height"]),
            _annotations(rows[image_id], box_format),
            image_id,
            {k: v for k, v in entry.items() if k not in _IMAGE_KEYS},
            str(path),
        )
        for image_id, entry in images.items()
    ]
    name = split_name(path)
    root = image_root or _image_root(path, name, records[0].file_name if records else None)
    return Dataset(categories, {name: Split(name, root, records)}, box_format, "coco", str(path))


def _annotation_box(ann: dict, oriented: bool) -> list[float] | None:
    if oriented:
        polygons = ann.get("segmentation")
        if not isinstance(polygons, list) or len(polygons) != 1:
            return None
        return _number_list(polygons[0], 8)
    xywh = _number_list(ann.get("bbox"), 4)
    return None if xywh is None else [xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]]


def _annotations(rows: list, box_format: BoxFormat) -> Annotations:
    if not rows:
        return Annotations.empty(box_format)
    boxes, ids, crowd, difficult, truncated, area = zip(*rows)
    known = None if all(a is None for a in area) else list(area)
    return Annotations.from_lists(box_format, list(boxes), list(ids), list(crowd), list(difficult), list(truncated), known)


def to_coco_dict(dataset: Dataset, split: Split) -> dict:
    """The COCO JSON object of one split (annotation ids 1..N in image order)."""
    oriented = dataset.box_format == BoxFormat.QBOX
    ids = [image.id for image in split.images]
    if 0 in ids or len(set(ids)) != len(ids):  # merged or hand-built splits: number them afresh
        ids = list(range(1, len(ids) + 1))
    images, annotations = [], []
    for image_id, image in zip(ids, split.images):
        images.append({"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height, **image.meta})
        ann = image.annotations
        xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY)
        xywh = convert(xyxy, BoxFormat.XYXY, BoxFormat.XYWH)
        areas = ann.boxes.area()
        if ann.area is not None:  # the file's own area (e.g. of a segmentation) wins where it gave one
            areas = np.where(np.isnan(ann.area), areas, ann.area)
        for k in range(len(ann)):
            entry: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(ann.category_ids[k]),
                "bbox": [json_number(v) for v in xywh[k]],
                "area": json_number(areas[k]),
                "iscrowd": int(ann.iscrowd[k]),
            }
            if oriented:
                entry["segmentation"] = [[json_number(v) for v in ann.boxes.data[k]]]
            for key in ("difficult", "truncated"):
                if getattr(ann, key)[k]:
                    entry[key] = 1
            annotations.append(entry)
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in dataset.categories]
    info = {"description": f"written by yoloxkit from {dataset.source}", "box_format": dataset.box_format.value}
    return {"info": info, "images": images, "annotations": annotations, "categories": categories}


def write_coco(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/annotations/instances_<split>.json`` and the images under ``out/<split>/``."""
    dataset = prepare(dataset, CAPABILITIES, report, out)
    seen: dict[Path, Path] = {}
    for name, split in dataset.splits.items():
        write_text(out / "annotations" / f"instances_{name}.json", json.dumps(to_coco_dict(dataset, split)) + "\n")
        copy_images(split, out / name, seen)
    return out
