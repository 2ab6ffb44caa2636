"""``data check``: counts, class histogram and every problem that makes a detector learn nothing.

Errors (non-zero exit): missing, unreadable, corrupt or truncated images; image sizes that disagree
with the annotation; degenerate, non-finite or entirely outside boxes; unknown category ids.
Warnings: boxes crossing the border, duplicates, category-id gaps or id 0, unused classes,
identical images in several splits (leakage, by content hash), a large share of tiny objects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .imagefiles import inspect_image
from .model import Dataset, ImageRecord, Split
from .report import Report
from .validate import TINY_SIDE, box_flags

#: Share of tiny objects above which a warning is given.
TINY_WARN_SHARE = 0.25


@dataclass(frozen=True)
class ImageState:
    """What decoding an image file found: real size, problem (None if fine), content hash."""

    size: tuple[int, int] | None
    problem: str | None
    digest: str | None


def inspect_images(dataset: Dataset, workers: int = 8) -> dict[Path, ImageState]:
    """Decode every distinct image file once (threads; OpenCV releases the GIL)."""
    paths = sorted({split.path(image).resolve() for split, image in dataset.items()})

    def one(path: Path) -> ImageState:
        if not path.is_file():
            return ImageState(None, "image file not found", None)
        return ImageState(*inspect_image(path))

    with ThreadPoolExecutor(workers) as pool:
        states = list(tqdm(pool.map(one, paths), total=len(paths), desc="decoding images", unit="img", disable=None))
    return dict(zip(paths, states))


def _object_label(image: ImageRecord, k: int, names: dict[int, str]) -> str:
    ann = image.annotations
    cid = int(ann.category_ids[k])
    coords = ", ".join(f"{v:g}" for v in ann.boxes.data[k])
    return f"object {k + 1} ({names.get(cid, f'id {cid}')}) [{coords}]"


def _check_objects(split: Split, image: ImageRecord, names: dict[int, str], report: Report, tally: Counter) -> None:
    flags = box_flags(image)
    file = image.source or split.path(image)
    where = f"{image.file_name} ({image.width}x{image.height}): "
    checks = (
        (flags.nonfinite, report.error, "bad-box", "non-finite coordinates"),
        (flags.degenerate, report.error, "degenerate-box", "zero or negative area"),
        (flags.outside, report.error, "outside-image", "entirely outside the image"),
        (flags.partial, report.warn, "out-of-bounds", "crosses the image border (clipped for training)"),
        (flags.duplicate, report.warn, "duplicate", "duplicate of an earlier object of the same class"),
    )
    for mask, emit, kind, text in checks:
        for k in mask.nonzero()[0]:
            emit(kind, file, f"{where}{_object_label(image, int(k), names)}: {text}")
    for k, cid in enumerate(image.annotations.category_ids.tolist()):
        if cid not in names:
            report.error("unknown-category", file, f"{where}{_object_label(image, k, names)}: category id not in the categories")
    tally["tiny"] += int(flags.tiny.sum())


def _check_categories(dataset: Dataset, histogram: Counter, report: Report) -> None:
    ids = sorted(c.id for c in dataset.categories)
    source = dataset.source
    if ids and ids != list(range(ids[0], ids[0] + len(ids))):
        missing = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        report.warn("category-gaps", source, f"category ids have gaps (missing {shown}); classes are indexed by sorted id")
    if ids and ids[0] == 0:
        report.warn("zero-based-ids", source, "category id 0 is used; COCO ids start at 1 and some tools reserve 0 for background")
    unused = [c.name for c in dataset.categories if histogram[c.id] == 0]
    if unused:
        shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
        report.warn("unused-class", source, f"{len(unused)} of {len(ids)} classes have no objects: {shown}")


def _check_images(dataset: Dataset, states: dict[Path, ImageState], report: Report) -> None:
    where_seen: dict[str, dict[str, Path]] = defaultdict(dict)
    for split, image in dataset.items():
        path = split.path(image).resolve()
        state = states[path]
        if state.problem is not None:
            kind = "missing-image" if "not found" in state.problem else "corrupt-image"
            report.error(kind, path, f"{state.problem}; its {len(image.annotations)} objects cannot be used")
        elif state.size != (image.width, image.height):
            w, h = state.size
            report.error("size-mismatch", image.source or path, f"{image.file_name}: annotation says {image.width}x{image.height}, the file is {w}x{h}")
        if state.digest is not None:
            where_seen[state.digest].setdefault(split.name, path)
    for digest, splits in where_seen.items():
        if len(splits) > 1:
            first, *others = splits.items()
            listing = ", ".join(f"{name} ({path.name})" for name, path in others)
            report.warn("leakage", first[1], f"identical image in splits {first[0]} and {listing}")


def check_dataset(dataset: Dataset, report: Report, states: dict[Path, ImageState] | None = None) -> None:
    """Run every check; findings go to ``report`` and counts to ``report.counts``.

    ``states`` are the decoded-image results of :func:`inspect_images`; None skips image checks.
    """
    names = dataset.names
    histogram: Counter = Counter()
    per_split = {}
    for split in dataset.splits.values():
        tally: Counter = Counter()
        classes: Counter = Counter()
        for image in split.images:
            _check_objects(split, image, names, report, tally)
            classes.update(image.annotations.category_ids.tolist())
            tally["empty"] += int(len(image.annotations) == 0)
            tally["crowd"] += int(image.annotations.iscrowd.sum())
            tally["difficult"] += int(image.annotations.difficult.sum())
        objects = sum(classes.values())
        histogram.update(classes)
        per_split[split.name] = {
            "images": len(split.images),
            "objects": objects,
            "images_without_objects": tally["empty"],
            "empty_ratio": round(tally["empty"] / max(len(split.images), 1), 4),
            "tiny_objects": tally["tiny"],
            "tiny_share": round(tally["tiny"] / max(objects, 1), 4),
            "crowd": tally["crowd"],
            "difficult": tally["difficult"],
            "classes": {names.get(cid, str(cid)): classes[cid] for cid in sorted(classes)},
        }
        if objects and tally["tiny"] / objects > TINY_WARN_SHARE:
            report.warn("tiny-objects", split.root, f"split {split.name}: {tally['tiny']} of {objects} objects are tiny (sqrt(area) < {TINY_SIDE:g} px)")
    _check_categories(dataset, histogram, report)
    if states is not None:
        _check_images(dataset, states, report)
    report.counts.update(
        {
            "format": dataset.format,
            "box_format": dataset.box_format.value,
            "images": dataset.num_images,
            "objects": dataset.num_objects,
            "categories": len(dataset.categories),
            "classes": {c.name: histogram[c.id] for c in dataset.categories},
            "splits": per_split,
        }
    )
