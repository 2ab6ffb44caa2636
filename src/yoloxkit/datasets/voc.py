"""Pascal VOC XML: the VOC layout (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``)
and the flat layouts of LabelImg and CVAT (``annotations/`` + ``images/``, or XML beside the images).

Coordinates are taken as written (``xmin`` -> x1 ... ``ymax`` -> y2), as LabelImg, CVAT and
Ultralytics do; the reference's training loader subtracts 1 from each, a one-pixel shift that
yoloxkit does not apply. ``difficult`` and ``truncated`` are kept. Class order: ``classes.txt``
beside the data when present, else the 20 VOC classes when every name is one of them, else the
names sorted. Without ``ImageSets`` everything is one split, ``train``; ``trainval`` is not kept
as a split of its own when it is exactly ``train`` + ``val`` (the writer recreates it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tqdm import tqdm

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert
from .categories import VOC_CLASSES, from_names, infer_names, read_class_file
from .fileio import DataFileError, format_number, read_text, write_text
from .imagefiles import find_image, image_size
from .model import Annotations, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare, sorted_categories
from .xmlparse import line_of, parse_xml

CAPABILITIES = Capabilities("voc", difficult=True, truncated=True)
ANNOTATION_DIRS = ("Annotations", "annotations")
IMAGE_DIRS = ("JPEGImages", "images", "Images")
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def annotation_dir(root: Path) -> Path | None:
    """The folder holding the XML files of a VOC-like dataset, if ``root`` is one."""
    for name in ANNOTATION_DIRS:
        if (root / name).is_dir() and any((root / name).glob("*.xml")):
            return root / name
    return root if any(root.glob("*.xml")) else None


def _image_dir(root: Path) -> Path:
    return next((root / n for n in IMAGE_DIRS if (root / n).is_dir()), root)


def _text(parent: ET.Element, tag: str) -> str | None:
    child = parent.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _flag(obj: ET.Element, tag: str, path: Path, report: Report) -> bool:
    value = _text(obj, tag)
    if value in (None, "", "0", "Unspecified"):
        return False
    if value == "1":
        return True
    report.error("parse", path, f"<{tag}> must be 0 or 1, got {value!r}", line_of(obj.find(tag)))
    return False


def _parse_object(obj: ET.Element, path: Path, report: Report) -> tuple | None:
    name = _text(obj, "name")
    if not name:
        report.error("parse", path, "object without <name>", line_of(obj))
        return None
    box = obj.find("bndbox")
    if box is None:
        report.error("parse", path, f"object {name!r} without <bndbox>", line_of(obj))
        return None
    values = []
    for tag in _COORDS:
        text = _text(box, tag)
        try:
            values.append(float(text))
        except (TypeError, ValueError):
            report.error("parse", path, f"<{tag}> of {name!r} is {text!r}, not a number", line_of(box))
            return None
    if not all(v == v and abs(v) != float("inf") for v in values):
        report.error("bad-box", path, f"non-finite coordinates {values}", line_of(box))
        return None
    return name, values, _flag(obj, "difficult", path, report), _flag(obj, "truncated", path, report), line_of(obj)


def _parse_file(path: Path, image_dir: Path, report: Report) -> dict | None:
    """One XML file -> image file, size and raw objects (names not yet mapped to ids)."""
    try:
        root = parse_xml(path, read_text(path))
    except DataFileError as exc:
        report.capture("parse", exc)
        return None
    filename = _text(root, "filename")
    image = image_dir / filename if filename else None
    if image is None or not image.is_file():
        image = find_image(image_dir, path.stem)
    if image is None:
        report.error("missing-image", path, f"image {filename or path.stem!r} not found in {image_dir}", line_of(root))
        return None
    size = root.find("size")
    try:
        width, height = int(float(_text(size, "width"))), int(float(_text(size, "height")))
    except (TypeError, ValueError, AttributeError):
        width = height = 0
    if width <= 0 or height <= 0:
        report.warn("size-missing", path, "no usable <size>; width and height read from the image", line_of(root))
        try:
            width, height = image_size(image)
        except YoloxkitError as exc:
            report.error("unreadable-image", image, str(exc))
            return None
    objects = [o for o in (_parse_object(obj, path, report) for obj in root.findall("object")) if o is not None]
    return {"image": image, "width": width, "height": height, "objects": objects, "xml": path}


def _categories(root: Path, parsed: list[dict], report: Report) -> dict[str, int]:
    given = read_class_file(root)
    found = {obj[0] for p in parsed for obj in p["objects"]}
    names = given if given is not None else infer_names(found, VOC_CLASSES)
    ids = {c.name: c.id for c in from_names(names)}
    for p in parsed:
        for obj in p["objects"]:
            if obj[0] not in ids:
                report.error("unknown-class", p["xml"], f"class {obj[0]!r} is not in classes.txt", obj[4])
    return ids


def read_voc(root: Path, report: Report) -> Dataset:
    """Read a VOC-layout or flat XML dataset under ``root``."""
    xml_dir = annotation_dir(root)
    if xml_dir is None:
        raise YoloxkitError(f"{root}: no Pascal VOC XML files found")
    image_dir = _image_dir(root)
    files = sorted(xml_dir.glob("*.xml"))
    parsed = [p for p in (_parse_file(f, image_dir, report) for f in tqdm(files, desc="reading xml", leave=False, disable=None)) if p]
    ids = _categories(root, parsed, report)
    records = {}
    for number, p in enumerate(parsed, start=1):
        objects = [o for o in p["objects"] if o[0] in ids]
        annotations = Annotations.from_lists(
            BoxFormat.XYXY, [o[1] for o in objects], [ids[o[0]] for o in objects],
            difficult=[o[2] for o in objects], truncated=[o[3] for o in objects],
        )  # fmt: skip
        name = p["image"].relative_to(image_dir).as_posix()
        records[p["xml"].stem] = ImageRecord(name, p["width"], p["height"], annotations, number, source=str(p["xml"]))
    splits = _splits(root, records, report)
    categories = from_names(list(ids))
    return Dataset(categories, {k: Split(k, image_dir, v) for k, v in splits.items()}, BoxFormat.XYXY, "voc", str(root))


def _splits(root: Path, records: dict[str, ImageRecord], report: Report) -> dict[str, list[ImageRecord]]:
    main = root / "ImageSets" / "Main"
    lists = sorted(p for p in main.glob("*.txt") if "_" not in p.stem) if main.is_dir() else []
    if not lists:
        return {"train": list(records.values())}
    splits: dict[str, list[ImageRecord]] = {}
    for path in lists:
        members = []
        for number, line in enumerate(read_text(path, allow_empty=True).splitlines(), start=1):
            if not line.strip():
                continue
            key = line.split()[0]
            if key not in records:
                report.error("missing-annotation", path, f"{key!r} has no annotation file", number)
                continue
            members.append(records[key])
        splits[path.stem] = members
    if {"train", "val", "trainval"} <= set(splits):
        union = {id(r) for r in splits["train"] + splits["val"]}
        if union == {id(r) for r in splits["trainval"]} and len(union) == len(splits["trainval"]):
            del splits["trainval"]
    listed = {id(r) for members in splits.values() for r in members}
    unlisted = [r for r in records.values() if id(r) not in listed]
    if unlisted:
        objects = sum(len(r.annotations) for r in unlisted)
        report.warn("not-in-split", main, f"{len(unlisted)} annotated images ({objects} objects) are in no ImageSets split, e.g. {unlisted[0].source}")
    return splits


def _xml(image: ImageRecord, names: dict[int, str]) -> str:
    ann = image.annotations
    xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY)
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = image.file_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for k in range(len(ann)):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = names[int(ann.category_ids[k])]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = str(int(ann.truncated[k]))
        ET.SubElement(obj, "difficult").text = str(int(ann.difficult[k]))
        box = ET.SubElement(obj, "bndbox")
        for tag, value in zip(_COORDS, xyxy[k]):
            ET.SubElement(box, tag).text = format_number(value)
    ET.indent(root, "\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_voc(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/Annotations``, ``out/JPEGImages``, ``out/ImageSets/Main`` and ``out/classes.txt``."""
    dataset = prepare(dataset, CAPABILITIES, report, out)
    names = dataset.names
    seen: dict[Path, Path] = {}
    written: dict[str, str] = {}
    for name, split in dataset.splits.items():
        copy_images(split, out / "JPEGImages", seen)
        keys = []
        for image in split.images:
            key = image.file_name.rsplit(".", 1)[0]
            text = _xml(image, names)
            if written.setdefault(key, text) != text:
                raise YoloxkitError(f"{out / 'Annotations' / key}.xml: two different annotations for one image name")
            write_text(out / "Annotations" / f"{key}.xml", text)
            keys.append(key)
        write_text(out / "ImageSets" / "Main" / f"{name}.txt", "".join(k + "\n" for k in keys))
    if {"train", "val"} <= set(dataset.splits) and "trainval" not in dataset.splits:
        both = [k for s in ("train", "val") for k in (i.file_name.rsplit(".", 1)[0] for i in dataset.splits[s].images)]
        write_text(out / "ImageSets" / "Main" / "trainval.txt", "".join(k + "\n" for k in dict.fromkeys(both)))
    write_text(out / "classes.txt", "".join(n + "\n" for n in sorted_categories(dataset)))
    return out
