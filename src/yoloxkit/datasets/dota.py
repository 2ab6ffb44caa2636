"""DOTA ``labelTxt``: one ``<image>.txt`` per image with optional header lines (``imagesource:``,
``gsd:``) and objects ``x1 y1 x2 y2 x3 y3 x4 y4 class difficulty``.

Layouts: ``images/`` + ``labelTxt/`` (or ``annfiles/``, as the split tool writes), or one such
pair per split folder (``train/``, ``val/``). Difficulty 1 is ``difficult``; difficulty 2 (what
the split tool writes for objects cut by a patch border) is ``truncated``; a missing difficulty is
0. Header values are kept in the image's ``meta`` and written back. Class order: ``classes.txt``
when present, else the 15 DOTA-v1.0 classes when every name is one of them, else sorted names.
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm import tqdm

from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, convert
from .categories import DOTA_V1_CLASSES, from_names, infer_names, read_class_file
from .fileio import DataFileError, format_number, read_text, write_text
from .imagefiles import image_size, list_images
from .model import Annotations, Dataset, ImageRecord, Split
from .report import Report
from .writing import Capabilities, copy_images, prepare, sorted_categories

CAPABILITIES = Capabilities("dota", difficult=True, truncated=True, oriented=True, axis_aligned=False)
LABEL_DIRS = ("labelTxt", "annfiles")
HEADER_KEYS = ("imagesource", "gsd")


def label_dir(folder: Path) -> Path | None:
    """The label folder of a DOTA split folder, if it is one (needs ``images/`` beside it)."""
    if not (folder / "images").is_dir():
        return None
    return next((folder / n for n in LABEL_DIRS if (folder / n).is_dir()), None)


def split_folders(root: Path) -> dict[str, Path]:
    """``{"train": root}`` for a single DOTA folder, or one entry per split sub-folder."""
    if label_dir(root) is not None:
        return {"train": root}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and label_dir(p) is not None}


def _parse(path: Path, report: Report) -> tuple[dict, list]:
    meta: dict[str, str] = {}
    objects: list = []
    try:
        text = read_text(path, allow_empty=True)
    except DataFileError as exc:
        report.capture("parse", exc)
        return meta, objects
    for number, line in enumerate(text.splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        key, colon, value = text.partition(":")
        if colon and key in HEADER_KEYS:
            meta[key] = value
            continue
        fields = text.split()
        if len(fields) not in (9, 10):
            report.error("parse", path, f"expected 8 coordinates, a class and a difficulty, got {len(fields)} fields", number)
            continue
        try:
            coords = [float(v) for v in fields[:8]]
            difficulty = int(fields[9]) if len(fields) == 10 else 0
        except ValueError:
            report.error("parse", path, f"not a number in {text!r}", number)
            continue
        if difficulty not in (0, 1, 2):
            report.error("parse", path, f"difficulty must be 0, 1 or 2, got {difficulty}", number)
            continue
        if not all(math.isfinite(v) for v in coords):
            report.error("bad-box", path, f"non-finite coordinates in {text!r}", number)
            continue
        objects.append((fields[8], coords, difficulty == 1, difficulty == 2, number))
    return meta, objects


def read_dota(root: Path, report: Report) -> Dataset:
    """Read a DOTA folder (or a folder of DOTA split folders)."""
    folders = split_folders(root)
    if not folders:
        raise YoloxkitError(f"{root}: no DOTA images/ + labelTxt/ folders found")
    parsed: dict[str, list] = {}
    for name, folder in folders.items():
        labels = label_dir(folder)
        rows = []
        for image in tqdm(list_images(folder / "images"), desc=f"reading {name}", leave=False, disable=None):
            txt = labels / image.relative_to(folder / "images").with_suffix(".txt")
            meta, objects = _parse(txt, report) if txt.is_file() else ({}, [])
            try:
                width, height = image_size(image)
            except YoloxkitError as exc:
                report.error("unreadable-image", image, f"{exc}; its {len(objects)} objects are not used")
                continue
            rows.append((image, txt, meta, objects, width, height))
        _report_orphans(folder, labels, {r[1] for r in rows}, report)
        parsed[name] = rows
    given = read_class_file(root)
    found = {o[0] for rows in parsed.values() for r in rows for o in r[3]}
    names = given if given is not None else infer_names(found, DOTA_V1_CLASSES)
    ids = {c.name: c.id for c in from_names(names)}
    splits = {}
    for name, rows in parsed.items():
        images = []
        for i, (image, txt, meta, objects, width, height) in enumerate(rows, start=1):
            for o in objects:
                if o[0] not in ids:
                    report.error("unknown-class", txt, f"class {o[0]!r} is not in classes.txt", o[4])
            objects = [o for o in objects if o[0] in ids]
            annotations = Annotations.from_lists(
                BoxFormat.QBOX, [o[1] for o in objects], [ids[o[0]] for o in objects],
                difficult=[o[2] for o in objects], truncated=[o[3] for o in objects],
            )  # fmt: skip
            file_name = image.relative_to(folders[name] / "images").as_posix()
            images.append(ImageRecord(file_name, width, height, annotations, i, meta, str(txt)))
        splits[name] = Split(name, folders[name] / "images", images)
    return Dataset(from_names(names), splits, BoxFormat.QBOX, "dota", str(root))


def _report_orphans(folder: Path, labels: Path, used: set[Path], report: Report) -> None:
    for txt in sorted(labels.rglob("*.txt")):
        if txt not in used:
            report.warn("orphan-label", txt, f"label file without an image in {folder / 'images'}: its objects are not used")


def _label_text(image: ImageRecord, names: dict[int, str]) -> str:
    ann = image.annotations
    quads = convert(ann.boxes.data, ann.boxes.format, BoxFormat.QBOX)
    lines = [f"{key}:{image.meta[key]}" for key in HEADER_KEYS if key in image.meta]
    for k in range(len(ann)):
        difficulty = 2 if ann.truncated[k] else int(ann.difficult[k])
        coords = " ".join(format_number(v) for v in quads[k])
        lines.append(f"{coords} {names[int(ann.category_ids[k])]} {difficulty}")
    return "".join(line + "\n" for line in lines)


def write_dota(dataset: Dataset, out: Path, report: Report) -> Path:
    """Write ``out/<split>/images``, ``out/<split>/labelTxt`` and ``out/classes.txt``."""
    dataset = prepare(dataset, CAPABILITIES, report, out)
    both = sum(int((image.annotations.difficult & image.annotations.truncated).sum()) for _, image in dataset.items())
    if both:
        report.warn("flag-lost", out, f"{both} objects both difficult and truncated written as difficulty 2 (truncated)")
    names = dataset.names
    seen: dict[Path, Path] = {}
    for name, split in dataset.splits.items():
        copy_images(split, out / name / "images", seen)
        for folder in ("images", "labelTxt"):  # an empty split is still a split
            (out / name / folder).mkdir(parents=True, exist_ok=True)
        for image in split.images:
            target = (out / name / "labelTxt" / image.file_name).with_suffix(".txt")
            write_text(target, _label_text(image, names))
    write_text(out / "classes.txt", "".join(n + "\n" for n in sorted_categories(dataset)))
    return out
