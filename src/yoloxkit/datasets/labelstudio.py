"""Label Studio JSON export (rectangle labels): a list of tasks, each an image and its annotations.

Read: each task's image is ``data.image`` (or the first string in ``data``); its URL is mapped to
a local file by name (``/data/local-files/?d=...``, ``/data/upload/<n>/<hash>-name.jpg`` or a
plain path), looked up in ``images/`` beside the JSON file or beside it. A task's labels are its
most recent annotation that was not cancelled; a task without one is left out and counted (an
unlabelled image is not background). Values are percentages of the image (``x``, ``y``,
``width``, ``height``); a ``rotation`` (degrees, clockwise about the box's top-left corner, as
Label Studio draws it) makes the dataset oriented. Class order: ``classes.txt`` beside the file,
else the names sorted. Splits: one per JSON file, named after it when there are several files or
the name is a split name (``train.json``, ``val.json``), else ``train``.

Write: ``out/<split>.json`` per split (one task per image, the boxes as one annotation, image
URLs as Label Studio's local-files form ``/data/local-files/?d=images/<name>``), ``out/images/``,
``out/classes.txt``. Oriented boxes are written as their enclosing boxes (reported).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert
from .categories import from_names, read_class_file
from .fileio import json_number, parse_json, read_text, write_text
from .imagefiles import image_size
from .model import Annotations, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare, sorted_categories

CAPABILITIES = Capabilities("labelstudio")
IMAGE_DIR = "images"
SPLIT_NAMES = ("train", "val", "valid", "validation", "test", "trainval")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def is_labelstudio(file: Path) -> bool:
    """Whether ``file`` is a JSON list (a Label Studio export; COCO files are objects)."""
    if not file.is_file() or file.suffix != ".json":
        return False
    with file.open("rb") as handle:
        head = handle.read(256).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    return head.startswith("[")


def _local_name(url: str) -> str:
    """The file name a Label Studio image URL points to."""
    parsed = urlparse(url)
    if "d" in (query := parse_qs(parsed.query)):
        return Path(unquote(query["d"][0])).name
    return Path(unquote(parsed.path)).name


def _find(folder: Path, url: str) -> Path | None:
    """The local image of ``url``: the local-files path under ``folder``, else its name in
    ``images/`` or ``folder`` (also without the hash prefix Label Studio gives uploads)."""
    query = parse_qs(urlparse(url).query)
    if "d" in query and (folder / unquote(query["d"][0])).is_file():
        return folder / unquote(query["d"][0])
    name = _local_name(url)
    for directory in (folder / IMAGE_DIR, folder):
        for candidate in (name, _UPLOAD_PREFIX.sub("", name)):
            if (directory / candidate).is_file():
                return directory / candidate
    return None


def _corners(x: float, y: float, w: float, h: float, degrees: float) -> list[float]:
    """Corners (clockwise from the top-left) of a box rotated about its top-left corner."""
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    return [v for dx, dy in ((0, 0), (w, 0), (w, h), (0, h)) for v in (x + dx * cos - dy * sin, y + dx * sin + dy * cos)]


def _latest(task: dict) -> dict | None:
    done = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    return done[-1] if done else None


def _read_tasks(file: Path, report: Report) -> list:
    try:
        data = parse_json(read_text(file))
    except json.JSONDecodeError as exc:
        report.error("parse", file, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno)
        return []
    if not isinstance(data, list):
        report.error("parse", file, "not a Label Studio export (a list of tasks)")
        return []
    return data


def _read_file(file: Path, report: Report) -> tuple[list[tuple], bool]:
    """``(image path, width, height, [(label, box, rotation)])`` per labelled task, and whether any box is rotated."""
    folder, tasks, unlabelled, oriented = file.parent, _read_tasks(file, report), 0, False
    images = []
    for number, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        url = (data or {}).get("image") or next((v for v in (data or {}).values() if isinstance(v, str)), None)
        if not url:
            report.error("parse", file, f"task {number} has no image in 'data'")
            continue
        annotation = _latest(task)
        if annotation is None:
            unlabelled += 1
            continue
        path = _find(folder, url)
        if path is None:
            report.error("missing-image", file, f"task {number}: image {_local_name(url)!r} not found in {folder / IMAGE_DIR} or {folder}")
            continue
        results = [r for r in annotation.get("result") or [] if isinstance(r, dict) and r.get("type") == "rectanglelabels"]
        try:
            width, height = (int(results[0]["original_width"]), int(results[0]["original_height"])) if results else image_size(path)
            boxes = []
            for r in results:
                v = r["value"]
                x, y, w, h, rotation = (float(v.get(k, 0)) for k in ("x", "y", "width", "height", "rotation"))
                if not all(math.isfinite(t) for t in (x, y, w, h, rotation)):
                    report.error("bad-box", file, f"task {number}: non-finite box values {v}")
                    continue
                scale = [width / 100, height / 100]
                box = [x * scale[0], y * scale[1], w * scale[0], h * scale[1]]
                oriented |= rotation != 0
                boxes += [(str(label), box, rotation) for label in v.get("rectanglelabels") or []]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            report.error("parse", file, f"task {number}: malformed rectangle result ({type(exc).__name__}: {exc})")
            continue
        images.append((path, width, height, boxes))
    if unlabelled:
        report.warn("unlabelled", file, f"{unlabelled} tasks without a (non-cancelled) annotation left out: an unlabelled image is not background")
    return images, oriented


def read_labelstudio(path: Path, report: Report) -> Dataset:
    """Read a Label Studio export: one JSON file, or a folder of them (one split each)."""
    files = [path] if path.is_file() else sorted(p for p in path.glob("*.json") if is_labelstudio(p))
    if not files:
        raise YoloxkitError(f"{path}: no Label Studio JSON export (a list of tasks) found")
    folder = files[0].parent
    named = len(files) > 1 or files[0].stem.lower() in SPLIT_NAMES
    read = {(f.stem if named else "train"): _read_file(f, report) for f in files}
    oriented = any(o for _, o in read.values())
    found = {label for images, _ in read.values() for *_, boxes in images for label, _, _ in boxes}
    names = read_class_file(folder) or sorted(found)
    ids = {name: i + 1 for i, name in enumerate(names)}
    box_format = BoxFormat.QBOX if oriented else BoxFormat.XYXY
    splits, root = {}, folder / IMAGE_DIR if (folder / IMAGE_DIR).is_dir() else folder
    for split, (images, _) in read.items():
        records = []
        for number, (image_path, width, height, boxes) in enumerate(images, start=1):
            kept = [(label, box, rotation) for label, box, rotation in boxes if label in ids]
            if len(kept) < len(boxes):
                report.error("class-range", image_path, f"labels not in classes.txt: {sorted({b[0] for b in boxes} - set(ids))}")
            values = [_corners(*box, rotation) if oriented else [box[0], box[1], box[0] + box[2], box[1] + box[3]] for _, box, rotation in kept]
            annotations = Annotations.from_lists(box_format, values, [ids[label] for label, _, _ in kept])
            name = image_path.relative_to(root).as_posix() if image_path.is_relative_to(root) else image_path.name
            records.append(ImageRecord(name, width, height, annotations, number, source=str(image_path)))
        splits[split] = Split(split, root, records)
    return Dataset(from_names(names), splits, box_format, "labelstudio", str(path))


def _task(image: ImageRecord, number: int, names: dict[int, str]) -> dict:
    ann = image.annotations
    xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY) if len(ann) else np.zeros((0, 4))
    results = []
    for k, (x1, y1, x2, y2) in enumerate(xyxy):
        value = {"x": json_number(100 * x1 / image.width), "y": json_number(100 * y1 / image.height),
                 "width": json_number(100 * (x2 - x1) / image.width), "height": json_number(100 * (y2 - y1) / image.height),
                 "rotation": 0, "rectanglelabels": [names[int(ann.category_ids[k])]]}  # fmt: skip
        results.append({"id": f"{number}-{k}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                        "original_width": image.width, "original_height": image.height, "image_rotation": 0, "value": value})  # fmt: skip
    return {"id": number, "data": {"image": f"/data/local-files/?d={IMAGE_DIR}/{image.file_name}"},
            "annotations": [{"id": number, "result": results, "was_cancelled": False}]}  # fmt: skip


def write_labelstudio(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/<split>.json``, ``out/images/`` and ``out/classes.txt``."""
    dataset = prepare(dataset, CAPABILITIES, report, out)
    names, seen, number = dataset.names, {}, 0
    for split_name, split in dataset.splits.items():
        copy_images(split, out / IMAGE_DIR, seen)
        tasks = []
        for image in split.images:
            number += 1
            tasks.append(_task(image, number, names))
        write_text(out / f"{split_name}.json", json.dumps(tasks, indent=1) + "\n")
    write_text(out / "classes.txt", "".join(n + "\n" for n in sorted_categories(dataset)))
    return out
