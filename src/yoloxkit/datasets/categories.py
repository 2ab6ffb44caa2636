"""Category lists: the official orders of known datasets, ``classes.txt`` files, name -> id tables."""

from __future__ import annotations

from pathlib import Path

from .fileio import read_text
from .model import Category

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

#: DOTA-v1.0 classes in the official order (devkit and ai4rs ``DOTADataset.METAINFO``).
DOTA_V1_CLASSES: tuple[str, ...] = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle",
    "ship", "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout",
    "harbor", "swimming-pool", "helicopter",
)  # fmt: skip

#: Class list files looked for beside a dataset (LabelImg / darknet names files).
CLASS_FILES = ("classes.txt", "obj.names")


def from_names(names: list[str] | tuple[str, ...]) -> list[Category]:
    """Categories with COCO-style ids 1..K in the given order."""
    return [Category(i + 1, name) for i, name in enumerate(names)]


def read_class_file(folder: Path) -> list[str] | None:
    """Class names, one per line, from ``classes.txt`` or ``obj.names`` in ``folder``; None if absent."""
    for name in CLASS_FILES:
        path = folder / name
        if path.is_file():
            return [line.strip() for line in read_text(path).splitlines() if line.strip()]
    return None


def infer_names(found: set[str], official: tuple[str, ...]) -> list[str]:
    """The official list when every found name belongs to it (stable ids), else the names sorted."""
    if found and found <= set(official):
        return list(official)
    return sorted(found)
