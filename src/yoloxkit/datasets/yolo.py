"""YOLO txt labels with a ``data.yaml`` (Ultralytics layout), axis-aligned and oriented (YOLO-OBB).

One ``labels/.../<image>.txt`` per image (the image path with its last ``images`` folder replaced
by ``labels``); each line is ``class cx cy w h`` or ``class x1 y1 x2 y2 x3 y3 x4 y4``, normalised
by the image size, class = 0-based index into ``names``. An image without a label file has no
objects. Class index ``i`` becomes category id ``i + 1`` (COCO ids start at 1); writing maps
category ids, in id order, back to 0..K-1. Numbers are written with 10 significant digits.
Oriented datasets also get ``box_format: qbox`` in ``data.yaml`` (other tools ignore the key).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert
from .categories import CLASS_FILES, from_names, read_class_file
from .fileio import DataFileError, read_text, write_text
from .imagefiles import image_size, list_images
from .model import Annotations, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare, sorted_categories

CAPABILITIES = Capabilities("yolo", oriented=True)
SPLIT_KEYS = ("train", "val", "test")
_FIELDS = {5: BoxFormat.CXCYWH, 9: BoxFormat.QBOX}
#: Lines with one more field carry a confidence (``yoloxkit predict --save-txt``, Ultralytics'
#: ``save_conf``): read as pre-annotations, the confidence dropped.
_SCORED = {fields + 1: fmt for fields, fmt in _FIELDS.items()}


def label_path(image: Path) -> Path:
    """The label file of an image: last ``images`` folder -> ``labels``, suffix -> ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _names(value: object, path: Path) -> list[str]:
    if isinstance(value, dict):
        keys = sorted(value)
        if keys != list(range(len(keys))):
            raise YoloxkitError(f"{path}: 'names' keys must be 0..{len(keys) - 1}, got {keys}")
        return [str(value[k]) for k in keys]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise YoloxkitError(f"{path}: 'names' must be a list or a {{index: name}} mapping")


def read_data_yaml(path: Path) -> dict:
    """The parsed ``data.yaml`` (YAML errors name the line)."""
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(path, f"invalid YAML ({getattr(exc, 'problem', None) or exc})", line) from None
    if not isinstance(data, dict):
        raise YoloxkitError(f"{path}: expected a mapping with train/val and names")
    return data


def read_yolo_yaml(path: Path, report: Report) -> Dataset:
    """Read the dataset a ``data.yaml`` describes (splits ``train``, ``val``, ``test`` as present)."""
    data = read_data_yaml(path)
    if "names" not in data:
        raise YoloxkitError(f"{path}: no 'names' (the class names)")
    names = _names(data["names"], path)
    if "nc" in data and data["nc"] != len(names):
        raise YoloxkitError(f"{path}: nc is {data['nc']} but {len(names)} names are given")
    root = path.parent / str(data.get("path") or ".")
    if not root.is_dir():
        report.warn("path-not-found", path, f"path {data['path']!r} does not exist here; using the folder of {path.name}")
        root = path.parent
    splits: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        if data.get(key):
            entries = data[key] if isinstance(data[key], list) else [data[key]]
            splits[key] = [_resolve(root, str(e), path, key) for e in entries]
    if not splits:
        raise YoloxkitError(f"{path}: no train/val/test entry")
    declared = data.get("box_format")
    if declared not in (None, "xyxy", "qbox"):
        raise YoloxkitError(f"{path}: box_format must be xyxy or qbox, got {declared!r}")
    return _read_splits(splits, root, names, report, str(path), _FIELDS[9] if declared == "qbox" else None)


def read_yolo_folder(root: Path, report: Report) -> Dataset:
    """Read ``root/images[/<split>]`` + ``root/labels[/<split>]`` with names from ``classes.txt``."""
    names = read_class_file(root) or read_class_file(root / "labels")
    if names is None:
        raise YoloxkitError(f"{root}: no class names: add a data.yaml or a classes.txt (one name per line)")
    images = root / "images"
    subfolders = sorted(p for p in images.iterdir() if p.is_dir())
    splits = {p.name: [p] for p in subfolders} if subfolders else {"train": [images]}
    return _read_splits(splits, root, names, report, str(root))


def _resolve(root: Path, entry: str, path: Path, key: str) -> Path:
    target = root / entry
    if not target.exists():
        raise YoloxkitError(f"{path}: {key} path {entry!r} not found (looked for {target})")
    return target


def _split_images(sources: list[Path], root: Path) -> tuple[Path, list[Path]]:
    """The image folder of a split and its image files (from folders and/or list files)."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += list_images(source)
        else:
            lines = read_text(source, allow_empty=True).splitlines()
            files += [(root / line.strip()).resolve() for line in lines if line.strip()]
    folder = sources[0] if len(sources) == 1 and sources[0].is_dir() else root
    return folder, files


def _read_splits(
    splits: dict[str, list[Path]], root: Path, names: list[str], report: Report, source: str,
    declared: BoxFormat | None = None,
) -> Dataset:  # fmt: skip
    state = {"format": declared, "scored": 0, "scored_file": None}
    result: dict[str, Split] = {}
    checked: set[Path] = set()
    for name, sources in splits.items():
        folder, files = _split_images(sources, root)
        images = []
        for i, file in enumerate(tqdm(files, desc=f"reading {name}", unit="img", leave=False, disable=None)):
            record = _read_image(file, folder, names, report, state)
            if record is not None:
                record.id = i + 1
                images.append(record)
        for source_dir in sources:
            if source_dir.is_dir() and source_dir.resolve() not in checked:
                checked.add(source_dir.resolve())
                _report_orphans(source_dir, files, report)
        result[name] = Split(name, folder, images)
    if state["scored"]:
        report.warn("predicted-labels", state["scored_file"], f"{state['scored']} label lines end with a confidence (predictions, "
                    "e.g. predict --save-txt): read as labels with the confidence dropped; review them before training on them")  # fmt: skip
    box_format = BoxFormat.QBOX if state["format"] == BoxFormat.QBOX else BoxFormat.XYXY
    for split in result.values():  # images read before the format was known hold empty xyxy
        for image in split.images:
            if len(image.annotations) == 0:
                image.annotations = Annotations.empty(box_format)
    return Dataset(from_names(names), result, box_format, "yolo", source)


def _read_image(file: Path, folder: Path, names: list[str], report: Report, state: dict) -> ImageRecord | None:
    try:
        width, height = image_size(file)
    except YoloxkitError as exc:
        report.error("unreadable-image", file, str(exc))
        return None
    labels = label_path(file)
    rows = _parse_labels(labels, names, report, state) if labels.is_file() else []
    fmt = state["format"] or BoxFormat.CXCYWH
    if rows:
        ids, values = zip(*rows)
        data = np.asarray(values, dtype=np.float64)
        scale = np.tile([width, height], fmt.width // 2)
        boxes = convert(data * scale, fmt, BoxFormat.XYXY) if fmt == BoxFormat.CXCYWH else data * scale
        annotations = Annotations.from_lists(
            BoxFormat.XYXY if fmt == BoxFormat.CXCYWH else fmt, boxes, [i + 1 for i in ids]
        )
    else:
        annotations = Annotations.empty(BoxFormat.XYXY)
    if not file.is_relative_to(folder):
        raise YoloxkitError(f"{file}: image outside the dataset folder {folder}")
    return ImageRecord(file.relative_to(folder).as_posix(), width, height, annotations, source=str(labels))


def _parse_labels(path: Path, names: list[str], report: Report, state: dict) -> list[tuple[int, list[float]]]:
    try:
        text = read_text(path, allow_empty=True)
    except DataFileError as exc:
        report.capture("parse", exc)
        return []
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        fmt = _FIELDS.get(len(fields))
        if fmt is None and len(fields) in _SCORED:
            fmt, score = _SCORED[len(fields)], fields.pop()
            if not _is_confidence(score):
                report.error("parse", path, f"{len(fields) + 1} fields: the last, {score!r}, must be a confidence in [0, 1]", number)
                continue
            state["scored"] += 1
            state["scored_file"] = state["scored_file"] or path
        if fmt is None:
            report.error("parse", path, f"{len(fields)} fields; expected 5 (class cx cy w h) or 9 (class + 4 corners), "
                         "each optionally followed by a confidence", number)  # fmt: skip
            continue
        if state["format"] is None:
            state["format"] = fmt
        elif state["format"] != fmt:
            expected = state["format"].width + 1
            report.error("parse", path, f"{len(fields)} fields, but this dataset's labels have {expected} (boxes and oriented boxes cannot mix)", number)
            continue
        try:
            klass_value, values = float(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            report.error("parse", path, f"not a number in {line.strip()!r}", number)
            continue
        if not klass_value.is_integer():
            report.error("parse", path, f"class {fields[0]!r} is not an integer", number)
            continue
        klass = int(klass_value)
        if not 0 <= klass < len(names):
            hint = " (labels look 1-based)" if klass == len(names) else ""
            report.error("class-range", path, f"class id {klass} out of range 0..{len(names) - 1}{hint}", number)
            continue
        if not all(math.isfinite(v) for v in values):
            report.error("bad-box", path, f"non-finite coordinates in {line.strip()!r}", number)
            continue
        rows.append((klass, values))
    return rows


def _is_confidence(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0
    except ValueError:
        return False


def _report_orphans(folder: Path, files: list[Path], report: Report) -> None:
    """Warn about label files that belong to no image: their objects would be lost silently."""
    labels = label_path(folder / "x.jpg").parent
    if labels == folder or not labels.is_dir():
        return
    expected = {label_path(f) for f in files}
    for txt in sorted(labels.rglob("*.txt")):
        if txt not in expected and txt.name not in CLASS_FILES:
            count = sum(1 for line in read_text(txt, allow_empty=True).splitlines() if line.strip())
            report.warn("orphan-label", txt, f"label file without an image: its {count} objects are not used")


def _label_lines(image: ImageRecord, index: dict[int, int]) -> str:
    ann = image.annotations
    scale = np.tile([image.width, image.height], ann.boxes.format.width // 2)
    if ann.boxes.format == BoxFormat.QBOX:
        values = ann.boxes.data / scale
    else:
        values = convert(ann.boxes.data, ann.boxes.format, BoxFormat.CXCYWH) / scale
    lines = [
        " ".join([str(index[int(cid)])] + [f"{v:.10g}" for v in row]) for cid, row in zip(ann.category_ids, values)
    ]
    return "".join(line + "\n" for line in lines)


def write_yolo(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/data.yaml``, ``out/images/<split>/`` and ``out/labels/<split>/``.

    A split holding exactly the images of an earlier one points at that one's folder.
    """
    dataset = prepare(dataset, CAPABILITIES, report, out)
    index = dataset.class_index
    names = sorted_categories(dataset)
    written: dict[tuple, str] = {}
    entries: dict[str, str] = {}
    seen: dict[Path, Path] = {}
    for name, split in dataset.splits.items():
        key = tuple(split.path(image).resolve() for image in split.images)
        if key in written:
            entries[name] = written[key]
            continue
        copy_images(split, out / "images" / name, seen)
        (out / "images" / name).mkdir(parents=True, exist_ok=True)  # an empty split is still a split
        for image in split.images:
            target = label_path(out / "images" / name / image.file_name)
            write_text(target, _label_lines(image, index))
        entries[name] = written[key] = f"images/{name}"
    data = {**entries, "nc": len(names), "names": dict(enumerate(names))}
    if dataset.box_format == BoxFormat.QBOX:  # a yoloxkit key: says so even when no label has a line
        data["box_format"] = BoxFormat.QBOX.value
    write_text(out / "data.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return out
