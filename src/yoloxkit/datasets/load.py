"""One way to name a dataset: ``--data`` is a folder (format detected, with its splits), a YOLO
``data.yaml``, a COCO JSON file, or the ``split.yaml`` that ``yoloxkit data split`` writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import YoloxkitError
from .coco import read_coco, write_coco
from .cvat import is_cvat, read_cvat, write_cvat
from .labelstudio import is_labelstudio, read_labelstudio, write_labelstudio
from .dota import read_dota, split_folders, write_dota
from .model import Dataset, ImageRecord, Split
from .report import Report
from .voc import annotation_dir, read_voc, write_voc
from .yolo import read_data_yaml, read_yolo_folder, read_yolo_yaml, write_yolo

FORMATS = ("coco", "yolo", "voc", "dota", "cvat", "labelstudio")
MANIFEST = "split.yaml"
MANIFEST_TAG = "yoloxkit_split"
WRITERS: dict[str, Callable[[Dataset, Path, Report], Path]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "voc": write_voc,
    "dota": write_dota,
    "cvat": write_cvat,
    "labelstudio": write_labelstudio,
}


def _coco_files(folder: Path) -> list[Path]:
    annotations = folder / "annotations"
    found = sorted(annotations.glob("*.json")) if annotations.is_dir() else []
    return found or sorted(folder.glob("*.json"))


def _yaml_kind(path: Path) -> str:
    return "split" if MANIFEST_TAG in read_data_yaml(path) else "yolo"


def detect(path: Path) -> str | None:
    """The format of a dataset folder or file (``coco``, ``yolo``, ``voc``, ``dota``, ``cvat``,
    ``labelstudio``, ``split``), or None."""
    if path.is_file():
        if path.suffix in (".yaml", ".yml"):
            return _yaml_kind(path)
        if path.suffix == ".xml":
            return "cvat" if is_cvat(path) else None
        if path.suffix == ".json":
            return "labelstudio" if is_labelstudio(path) else "coco"
        return None
    if (path / MANIFEST).is_file():
        return "split"
    if (path / "data.yaml").is_file():
        return "yolo"
    if not (path / "annotations").is_dir() and any(is_labelstudio(f) for f in path.glob("*.json")):
        return "labelstudio"  # a JSON list of tasks; COCO files are objects
    if _coco_files(path):
        return "coco"
    if is_cvat(path):  # before VOC: its annotations.xml would look like one VOC file
        return "cvat"
    if annotation_dir(path) is not None:
        return "voc"
    if split_folders(path):
        return "dota"
    if (path / "images").is_dir() and (path / "labels").is_dir():
        return "yolo"
    return None


def _resolve(path: Path) -> tuple[str, Path]:
    """Format and location, looking one folder down (e.g. ``bccd/`` holding ``BCCD/``)."""
    fmt = detect(path)
    if fmt is not None:
        return fmt, path
    if not path.is_dir():
        raise YoloxkitError(f"cannot tell the dataset format of {path} (expected a folder, data.yaml, .json or {MANIFEST})")
    below = {p: f for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith(".") and (f := detect(p))}
    if len(below) == 1:
        return next(iter(below.values())), next(iter(below))
    if below:
        listing = ", ".join(f"{p.name} ({f})" for p, f in below.items())
        raise YoloxkitError(f"{path} holds several datasets: {listing}; name one")
    raise YoloxkitError(
        f"cannot tell the dataset format of {path}: expected COCO (annotations/*.json), YOLO (data.yaml or "
        "images/ + labels/), Pascal VOC (Annotations/*.xml or *.xml), DOTA (images/ + labelTxt/), CVAT (annotations.xml) or Label Studio (a JSON list of tasks)"
    )


def load_dataset(spec: str | Path, report: Report | None = None, fmt: str | None = None) -> Dataset:
    """Read the dataset that ``spec`` names; ``fmt`` forces a format instead of detecting it."""
    report = report if report is not None else Report()
    path = Path(spec)
    if not path.exists():
        raise YoloxkitError(f"dataset not found: {spec}")
    if fmt is None or fmt == "split":
        fmt, path = _resolve(path)
    elif fmt not in FORMATS:
        raise YoloxkitError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "split":
        return load_manifest(path if path.is_file() else path / MANIFEST, report)
    if fmt == "coco":
        return _read_coco_all(path, report)
    if fmt == "yolo":
        yaml_path = path if path.is_file() else path / "data.yaml"
        return read_yolo_yaml(yaml_path, report) if yaml_path.is_file() else read_yolo_folder(path, report)
    if fmt == "cvat":
        return read_cvat(path, report)
    if fmt == "labelstudio":
        return read_labelstudio(path, report)
    if not path.is_dir():
        raise YoloxkitError(f"a {fmt} dataset is a folder, got the file {path}")
    return read_voc(path, report) if fmt == "voc" else read_dota(path, report)


def _read_coco_all(path: Path, report: Report) -> Dataset:
    files = [path] if path.is_file() else _coco_files(path)
    if not files:
        raise YoloxkitError(f"{path}: no COCO JSON files (annotations/*.json)")
    parts = [read_coco(f, report) for f in files]
    # A file that could not be parsed (reported as such by ``data check``) is not compared with
    # the others: its empty category list would hide the real cause behind "categories differ".
    broken = {f.file for f in report.findings if f.kind == "parse"}
    readable = [(part, file) for part, file in zip(parts, files) if str(file) not in broken] or [(parts[0], files[0])]
    first, first_file = readable[0]
    for other, file in readable[1:]:
        if [(c.id, c.name) for c in other.categories] != [(c.id, c.name) for c in first.categories]:
            raise YoloxkitError(f"{file}: categories differ from those of {first_file}")
        if other.box_format != first.box_format:
            raise YoloxkitError(f"{file}: box format {other.box_format.value} differs from {first_file}")
    splits = {name: split for part in parts for name, split in part.splits.items()}
    return Dataset(first.categories, splits, first.box_format, "coco", str(path))


def write_dataset(dataset: Dataset, fmt: str, out: Path, report: Report) -> Path:
    """Write ``dataset`` in format ``fmt`` under ``out`` (images linked or copied)."""
    if fmt not in WRITERS:
        raise YoloxkitError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return WRITERS[fmt](dataset, out, report)


def image_key(root: Path, split: Split, image: ImageRecord) -> str:
    """The name of an image relative to the dataset's common image folder (used by split manifests)."""
    return Path(os.path.relpath(split.path(image), root)).as_posix()


def common_root(dataset: Dataset) -> Path:
    """The deepest folder holding every split's images."""
    roots = [str(split.root.resolve()) for split in dataset.splits.values()]
    return Path(os.path.commonpath(roots)) if roots else Path(".")


def load_manifest(path: Path, report: Report) -> Dataset:
    """The dataset a ``split.yaml`` describes: its source, regrouped into the listed splits."""
    data = read_data_yaml(path)
    if not isinstance(data.get("splits"), dict) or "source" not in data:
        raise YoloxkitError(f"{path}: a split manifest needs 'source' and 'splits'")
    source = load_dataset(os.path.normpath(path.parent / data["source"]), report, data.get("format"))
    root = common_root(source)
    by_key: dict[str, ImageRecord] = {}
    for split, image in source.items():
        by_key.setdefault(image_key(root, split, image), image)
    splits = {}
    for name, keys in data["splits"].items():
        images = []
        for i, key in enumerate(keys or [], start=1):
            if key not in by_key:
                raise YoloxkitError(f"{path}: split {name!r} lists {key!r}, which is not in {data['source']}")
            image = by_key[key]
            images.append(ImageRecord(key, image.width, image.height, image.annotations, i, image.meta, image.source))
        splits[name] = Split(name, root, images)
    # Keep the original source (not this manifest), so that splitting again refers to the real data.
    return Dataset(source.categories, splits, source.box_format, source.format, source.source)
