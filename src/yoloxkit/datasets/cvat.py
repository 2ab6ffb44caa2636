"""CVAT "for images 1.1" XML: one ``annotations.xml`` for the whole dataset, images beside it.

Layout (what CVAT exports): ``annotations.xml`` + ``images/`` (or the images beside the file).
Each ``<image name width height [subset]>`` holds ``<box label xtl ytl xbr ybr [rotation]>``
elements; ``subset`` becomes the split (CVAT's ``default`` and a missing subset are ``train``).
A box with a non-zero ``rotation`` (degrees, clockwise about its centre, as CVAT draws it) makes
the dataset oriented: every box is then read as its four corners. Class order: the labels listed
under ``<meta>`` (task or project), then any other label in order of appearance. Shapes other
than boxes (polygons, points, masks, ...) are not read; the reading says how many.

The writer writes axis-aligned boxes (oriented boxes as their enclosing box, reported), the
labels under ``<meta><task>``, and each image's split as its ``subset``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..structures.boxes import BoxFormat, convert
from .categories import from_names
from .fileio import DataFileError, format_number, read_text, write_text
from .model import Annotations, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare, sorted_categories
from .xmlparse import line_of, parse_xml

CAPABILITIES = Capabilities("cvat")
CVAT_FILE = "annotations.xml"
IMAGE_DIR = "images"
SHAPES = ("polygon", "polyline", "points", "ellipse", "mask", "cuboid", "skeleton")
_COORDS = ("xtl", "ytl", "xbr", "ybr")


def is_cvat(path: Path) -> bool:
    """Whether ``path`` (a folder or an .xml file) holds a CVAT for images annotation file."""
    file = path / CVAT_FILE if path.is_dir() else path
    if not file.is_file() or file.suffix != ".xml":
        return False
    with file.open("rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
    return "<annotations" in head


def _corners(xyxy: list[float], degrees: float) -> list[float]:
    """The four corners (clockwise from the top-left) of a box rotated about its centre."""
    x1, y1, x2, y2 = xyxy
    cx, cy, theta = (x1 + x2) / 2, (y1 + y2) / 2, math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    out = []
    for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
        dx, dy = x - cx, y - cy
        out += [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]
    return out


def _box(element: ET.Element, path: Path, report: Report) -> tuple[list[float], float] | None:
    try:
        values = [float(element.get(key, "")) for key in _COORDS]
        rotation = float(element.get("rotation", "0") or 0)
    except ValueError:
        report.error("parse", path, f"box of {element.get('label')!r}: coordinates must be numbers", line_of(element))
        return None
    if not all(math.isfinite(v) for v in [*values, rotation]):
        report.error("bad-box", path, f"non-finite coordinates {values}", line_of(element))
        return None
    return values, rotation


def read_cvat(path: Path, report: Report) -> Dataset:
    """Read ``path`` (the folder holding ``annotations.xml``, or that file)."""
    file = path / CVAT_FILE if path.is_dir() else path
    root_dir = file.parent
    image_dir = root_dir / IMAGE_DIR if (root_dir / IMAGE_DIR).is_dir() else root_dir
    try:
        root = parse_xml(file, read_text(file))
    except DataFileError as exc:
        report.capture("parse", exc)
        return Dataset([], {}, BoxFormat.XYXY, "cvat", str(path))
    names = list(dict.fromkeys(n.text.strip() for n in root.findall("./meta//labels/label/name") if n.text and n.text.strip()))
    parsed, oriented, skipped = [], False, 0
    for image in root.iter("image"):
        try:
            width, height = int(image.get("width", "")), int(image.get("height", ""))
        except ValueError:
            report.error("parse", file, f"image {image.get('name')!r}: width and height must be whole numbers", line_of(image))
            continue
        boxes = []
        for element in image:
            if element.tag in SHAPES:
                skipped += 1
            if element.tag != "box":
                continue
            label = (element.get("label") or "").strip()
            box = _box(element, file, report)
            if not label or box is None:
                if not label:
                    report.error("parse", file, "box without a label", line_of(element))
                continue
            names += [] if label in names else [label]
            oriented |= box[1] != 0
            boxes.append((label, *box))
        subset = (image.get("subset") or "default").strip().lower()
        parsed.append((image.get("name", ""), width, height, "train" if subset in ("", "default") else subset, boxes))
    if skipped:
        report.warn("not-read", file, f"{skipped} shapes other than boxes (polygons, points, masks, ...) not read")
    ids = {name: i + 1 for i, name in enumerate(names)}
    box_format = BoxFormat.QBOX if oriented else BoxFormat.XYXY
    splits: dict[str, list[ImageRecord]] = {}
    for number, (name, width, height, subset, boxes) in enumerate(parsed, start=1):
        values = [_corners(xyxy, rotation) if oriented else xyxy for _, xyxy, rotation in boxes]
        annotations = Annotations.from_lists(box_format, values, [ids[label] for label, _, _ in boxes])
        splits.setdefault(subset, []).append(ImageRecord(name, width, height, annotations, number, source=str(file)))
    result = {key: Split(key, image_dir, images) for key, images in splits.items()}
    return Dataset(from_names(names), result, box_format, "cvat", str(path))


def _image_element(parent: ET.Element, image: ImageRecord, number: int, subset: str, names: dict[int, str]) -> None:
    element = ET.SubElement(parent, "image", {"id": str(number), "name": image.file_name, "subset": subset,
                                              "width": str(image.width), "height": str(image.height)})  # fmt: skip
    ann = image.annotations
    xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY) if len(ann) else np.zeros((0, 4))
    for k in range(len(ann)):
        attributes = {"label": names[int(ann.category_ids[k])], "source": "manual", "occluded": "0", "z_order": "0"}
        attributes |= {key: format_number(value) for key, value in zip(_COORDS, xyxy[k])}
        ET.SubElement(element, "box", attributes)


def write_cvat(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/annotations.xml`` (CVAT for images 1.1) and ``out/images/``."""
    dataset = prepare(dataset, CAPABILITIES, report, out)
    names = dataset.names
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    labels = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    for name in sorted_categories(dataset):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    seen: dict[Path, Path] = {}
    number = 0
    for split_name, split in dataset.splits.items():
        copy_images(split, out / IMAGE_DIR, seen)
        for image in split.images:
            _image_element(root, image, number, split_name, names)
            number += 1
    ET.indent(root, "  ")
    write_text(out / CVAT_FILE, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    return out
