"""What each output format can hold, and the one place where a writer reports what it cannot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import YoloxkitError
from .fileio import link_or_copy
from .model import Dataset, ImageRecord, Split
from .report import Report


@dataclass(frozen=True)
class Capabilities:
    """Which parts of the dataset model a format stores."""

    format: str
    iscrowd: bool = False
    difficult: bool = False
    truncated: bool = False
    oriented: bool = False  # holds qbox polygons
    axis_aligned: bool = True  # holds xyxy boxes as such (DOTA writes them as 4-corner polygons)
    category_ids: bool = False  # keeps arbitrary category ids (others renumber 1..K in order)


def prepare(dataset: Dataset, caps: Capabilities, report: Report, out: Path) -> Dataset:
    """Report every loss the target format implies; drop crowd objects where it has no crowd flag.

    Crowd regions are not objects: writing them as ordinary boxes would teach the detector wrong
    positives, so formats without a crowd flag leave them out, and the report says how many.
    """
    total = {"iscrowd": 0, "difficult": 0, "truncated": 0}
    for _, image in dataset.items():
        for key in total:
            total[key] += int(getattr(image.annotations, key).sum())
    name = caps.format
    if total["iscrowd"] and not caps.iscrowd:
        report.warn("not-written", out, f"{total['iscrowd']} crowd regions left out ({name} has no crowd flag)")
    for key in ("difficult", "truncated"):
        if total[key] and not getattr(caps, key):
            report.warn("flag-lost", out, f"{key} flag of {total[key]} objects not kept ({name} has no such flag)")
    if dataset.box_format.oriented and not caps.oriented:
        report.warn("boxes-changed", out, f"oriented boxes written as their enclosing axis-aligned boxes ({name})")
    if not dataset.box_format.oriented and not caps.axis_aligned:
        report.warn("boxes-changed", out, f"axis-aligned boxes written as 4-corner polygons ({name})")
    ids = [c.id for c in dataset.categories]
    if not caps.category_ids and ids != list(range(1, len(ids) + 1)):
        report.warn("ids-renumbered", out, f"category ids renumbered 1..{len(ids)} in id order ({name} keeps names only)")
    if not total["iscrowd"] or caps.iscrowd:
        return dataset
    splits = {
        key: Split(split.name, split.root, [_without_crowd(image) for image in split.images])
        for key, split in dataset.splits.items()
    }
    return Dataset(dataset.categories, splits, dataset.box_format, dataset.format, dataset.source)


def _without_crowd(image: ImageRecord) -> ImageRecord:
    keep = ~image.annotations.iscrowd
    return ImageRecord(
        image.file_name, image.width, image.height, image.annotations.select(keep), image.id, image.meta, image.source
    )


def sorted_categories(dataset: Dataset) -> list[str]:
    """Category names in id order (the contiguous class order)."""
    return [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]


def copy_images(split: Split, target_root: Path, seen: dict[Path, Path]) -> None:
    """Link or copy a split's images under ``target_root``, keeping their relative names.

    ``seen`` maps written targets to their sources across calls, so that two different images
    meeting at one output name is an error rather than a silent overwrite.
    """
    for image in split.images:
        source = split.path(image).resolve()
        target = target_root / image.file_name
        previous = seen.setdefault(target, source)
        if previous != source:
            raise YoloxkitError(f"{target}: two different images would be written here ({previous} and {source})")
        if not source.is_file():
            raise YoloxkitError(f"image not found: {source}")
        link_or_copy(source, target)

