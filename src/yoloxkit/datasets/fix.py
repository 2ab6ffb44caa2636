"""``data check --fix``: a cleaned copy of a dataset and the list of every change made.

Images that are missing or cannot be decoded are left out with their objects; image sizes that
disagree with the file take the file's size; axis-aligned boxes crossing the border are clipped
(polygons are kept whole: clipping them would change their angle); boxes that are non-finite,
entirely outside, degenerate (after clipping) or exact duplicates are removed, as are objects
whose category id is unknown. The input dataset is never modified.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..structures.boxes import BoxFormat, Boxes
from .check import ImageState
from .model import Dataset, ImageRecord, Split
from .validate import box_flags


def _clip(image: ImageRecord) -> ImageRecord:
    ann = image.annotations
    if ann.boxes.format != BoxFormat.XYXY:
        return image
    data = ann.boxes.data.copy()
    data[:, 0::2] = np.clip(data[:, 0::2], 0, image.width)
    data[:, 1::2] = np.clip(data[:, 1::2], 0, image.height)
    return ImageRecord(image.file_name, image.width, image.height, ann.with_boxes(Boxes(data, ann.boxes.format)), image.id, image.meta, image.source)


def _fix_image(image: ImageRecord, state: ImageState, known: set[int], changes: list[dict]) -> ImageRecord | None:
    file = image.source or image.file_name

    def change(text: str) -> None:
        changes.append({"file": file, "image": image.file_name, "change": text})

    if state.problem is not None:
        change(f"image removed ({state.problem}) with its {len(image.annotations)} objects")
        return None
    if state.size != (image.width, image.height):
        change(f"size {image.width}x{image.height} -> {state.size[0]}x{state.size[1]} (from the file)")
        image = ImageRecord(image.file_name, *state.size, image.annotations, image.id, image.meta, image.source)
    before = box_flags(image)
    clipped = _clip(image)
    after = box_flags(clipped)
    unknown = ~np.isin(image.annotations.category_ids, list(known))
    reasons = (
        (before.nonfinite, "non-finite coordinates"),
        (before.outside, "entirely outside the image"),
        (after.degenerate & ~before.outside, "zero or negative area"),
        (after.duplicate, "duplicate"),
        (unknown, "unknown category id"),
    )
    remove = np.zeros(len(image.annotations), dtype=bool)
    for mask, reason in reasons:
        for k in (mask & ~remove).nonzero()[0]:
            change(f"object {k + 1} removed: {reason} {image.annotations.boxes.data[k].tolist()}")
        remove |= mask
    moved = (clipped.annotations.boxes.data != image.annotations.boxes.data).any(axis=1)
    for k in (moved & ~remove).nonzero()[0]:
        change(f"object {k + 1} clipped to the image: {image.annotations.boxes.data[k].tolist()} -> {clipped.annotations.boxes.data[k].tolist()}")
    return ImageRecord(clipped.file_name, clipped.width, clipped.height, clipped.annotations.select(~remove), image.id, image.meta, image.source)


def fix_dataset(dataset: Dataset, states: dict[Path, ImageState]) -> tuple[Dataset, list[dict]]:
    """The cleaned dataset and the changes (``{"file", "image", "change"}`` each)."""
    known = {c.id for c in dataset.categories}
    changes: list[dict] = []
    splits = {}
    for name, split in dataset.splits.items():
        images = [_fix_image(image, states[split.path(image).resolve()], known, changes) for image in split.images]
        splits[name] = Split(name, split.root, [image for image in images if image is not None])
    return Dataset(dataset.categories, splits, dataset.box_format, dataset.format, dataset.source), changes
