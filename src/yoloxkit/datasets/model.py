"""The dataset model: COCO semantics, one box type for axis-aligned and oriented boxes.

A :class:`Dataset` has categories (COCO ids and names) and named splits; a :class:`Split` has
images (file name relative to the split's image folder, width, height); each
:class:`ImageRecord` holds its objects column-wise in :class:`Annotations` (a
:class:`~yoloxkit.structures.Boxes` in ``xyxy`` pixels, or ``qbox`` polygons for oriented data,
plus category ids and the ``iscrowd`` / ``difficult`` / ``truncated`` flags). Coordinates are
float64 pixels with (0, 0) at the top-left corner of the top-left pixel, whatever the file format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..structures.boxes import BoxFormat, Boxes

#: Box formats a dataset may hold.
DATASET_BOX_FORMATS = (BoxFormat.XYXY, BoxFormat.QBOX)


@dataclass(frozen=True)
class Category:
    """A COCO category: id (any positive or zero integer, not necessarily contiguous) and name."""

    id: int
    name: str
    supercategory: str = ""


@dataclass(eq=False)
class Annotations:
    """The objects of one image, column-wise: boxes, category ids and per-object flags.

    ``area`` keeps COCO's per-object ``area`` (the segmentation area, which sizes objects into
    small/medium/large) when a file gave one; NaN where unknown, and writers fall back to the box area.
    """

    boxes: Boxes
    category_ids: np.ndarray  # int64 [N]
    iscrowd: np.ndarray  # bool [N]
    difficult: np.ndarray  # bool [N]
    truncated: np.ndarray  # bool [N]
    area: np.ndarray | None = None  # float64 [N], NaN = unknown; None = none known

    @classmethod
    def from_lists(
        cls,
        box_format: BoxFormat,
        boxes: list[list[float]],
        category_ids: list[int],
        iscrowd: list[bool] | None = None,
        difficult: list[bool] | None = None,
        truncated: list[bool] | None = None,
        area: list[float | None] | None = None,
    ) -> "Annotations":
        """Build from Python lists; missing flag lists mean all False, a missing area list none known."""
        n = len(category_ids)
        data = np.asarray(boxes, dtype=np.float64).reshape(n, box_format.width)

        def flags(values: list[bool] | None) -> np.ndarray:
            return np.zeros(n, dtype=bool) if values is None else np.asarray(values, dtype=bool).reshape(n)

        return cls(
            Boxes(data, box_format),
            np.asarray(category_ids, dtype=np.int64).reshape(n),
            flags(iscrowd),
            flags(difficult),
            flags(truncated),
            None if area is None else np.array([np.nan if a is None else a for a in area], dtype=np.float64).reshape(n),
        )

    @classmethod
    def empty(cls, box_format: BoxFormat) -> "Annotations":
        """No objects."""
        return cls.from_lists(box_format, [], [])

    def __len__(self) -> int:
        return len(self.category_ids)

    def select(self, index: Any) -> "Annotations":
        """A subset (boolean mask or integer indices)."""
        return Annotations(
            self.boxes[index],
            self.category_ids[index].reshape(-1),
            self.iscrowd[index].reshape(-1),
            self.difficult[index].reshape(-1),
            self.truncated[index].reshape(-1),
            None if self.area is None else self.area[index].reshape(-1),
        )

    def appended(self, other: "Annotations") -> "Annotations":
        """These objects, then ``other``'s (same box format); a COCO area known on one side only is NaN on the other."""
        def areas(part: "Annotations") -> np.ndarray:
            return np.full(len(part), np.nan) if part.area is None else part.area

        area = None if self.area is None and other.area is None else np.concatenate([areas(self), areas(other)])
        return Annotations(
            Boxes(np.concatenate([self.boxes.numpy().data, other.boxes.numpy().data]), self.boxes.format),
            np.concatenate([self.category_ids, other.category_ids]),
            np.concatenate([self.iscrowd, other.iscrowd]),
            np.concatenate([self.difficult, other.difficult]),
            np.concatenate([self.truncated, other.truncated]),
            area,
        )

    def with_boxes(self, boxes: Boxes) -> "Annotations":
        """The same objects with other boxes (same count); a given COCO area no longer applies and is dropped."""
        return Annotations(boxes, self.category_ids, self.iscrowd, self.difficult, self.truncated)


@dataclass(eq=False)
class ImageRecord:
    """One image and its objects. ``source`` is the annotation file it was read from (for reports)."""

    file_name: str  # relative to the split's image folder, "/"-separated
    width: int
    height: int
    annotations: Annotations
    id: int = 0
    meta: dict[str, Any] = field(default_factory=dict)  # extra fields kept for lossless writing
    source: str = ""


@dataclass(eq=False)
class Split:
    """A named list of images whose files lie under ``root``."""

    name: str
    root: Path
    images: list[ImageRecord]

    def path(self, image: ImageRecord) -> Path:
        """The image file on disk."""
        return self.root / image.file_name


@dataclass(eq=False)
class Dataset:
    """Categories plus named splits, all holding boxes of one ``box_format``."""

    categories: list[Category]
    splits: dict[str, Split]
    box_format: BoxFormat = BoxFormat.XYXY
    format: str = ""  # the on-disk format it was read from (coco, yolo, voc, dota)
    source: str = ""  # what the user named

    def __post_init__(self) -> None:
        self.box_format = BoxFormat(self.box_format)
        if self.box_format not in DATASET_BOX_FORMATS:
            raise ValueError(f"datasets hold xyxy or qbox boxes, not {self.box_format.value}")

    @property
    def names(self) -> dict[int, str]:
        """Category id -> name."""
        return {c.id: c.name for c in self.categories}

    @property
    def class_index(self) -> dict[int, int]:
        """Category id -> contiguous 0-based class index (position in the sorted ids, as the reference)."""
        return {cid: i for i, cid in enumerate(sorted(c.id for c in self.categories))}

    def items(self) -> Iterator[tuple[Split, ImageRecord]]:
        """Every (split, image) pair, split by split."""
        for split in self.splits.values():
            for image in split.images:
                yield split, image

    @property
    def num_images(self) -> int:
        """Images over all splits (an image listed in two splits counts twice)."""
        return sum(len(s.images) for s in self.splits.values())

    @property
    def num_objects(self) -> int:
        """Objects over all splits."""
        return sum(len(image.annotations) for _, image in self.items())
