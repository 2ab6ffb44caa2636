"""Shared helpers for the data-layer tests: dataset paths, tiny datasets, dataset comparison."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yoloxkit.datasets import Annotations, Category, Dataset, ImageRecord, Split
from yoloxkit.structures.boxes import BoxFormat

#: The shared real datasets (CI has ``shared/`` beside the checkout).
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
BCCD = SHARED / "bccd"
COCO128 = SHARED / "coco128"
DOTA_SAMPLE = SHARED / "dota_sample"


def write_blank(path: Path, width: int, height: int) -> None:
    """A small PNG of the given size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 90, dtype=np.uint8))


def tiny_dataset(folder: Path, boxes_per_image: list[list[list[float]]], size: tuple[int, int] = (64, 48),
                 box_format: BoxFormat = BoxFormat.XYXY, names: tuple[str, ...] = ("cat", "dog")) -> Dataset:  # fmt: skip
    """One split ``train`` of blank images with the given boxes, all of category 1."""
    images = []
    for i, boxes in enumerate(boxes_per_image):
        name = f"im{i}.png"
        write_blank(folder / name, *size)
        ann = Annotations.from_lists(box_format, boxes, [1] * len(boxes))
        images.append(ImageRecord(name, size[0], size[1], ann, i + 1))
    categories = [Category(i + 1, n) for i, n in enumerate(names)]
    return Dataset(categories, {"train": Split("train", folder, images)}, box_format, "coco", str(folder))


def assert_same_dataset(a: Dataset, b: Dataset, atol: float = 1e-6, ids: bool = False, meta: bool = False) -> None:
    """Equal categories, splits, images (by file name) and objects; coordinates within ``atol`` pixels."""
    assert [(c.id, c.name) for c in a.categories] == [(c.id, c.name) for c in b.categories]
    assert a.box_format == b.box_format
    assert sorted(a.splits) == sorted(b.splits)
    for name in a.splits:
        left = sorted(a.splits[name].images, key=lambda r: r.file_name)
        right = sorted(b.splits[name].images, key=lambda r: r.file_name)
        assert [r.file_name for r in left] == [r.file_name for r in right]
        for x, y in zip(left, right):
            assert (x.width, x.height) == (y.width, y.height), x.file_name
            if ids:
                assert x.id == y.id
            if meta:
                assert x.meta == y.meta
            p, q = x.annotations, y.annotations
            assert p.category_ids.tolist() == q.category_ids.tolist(), x.file_name
            np.testing.assert_allclose(p.boxes.data, q.boxes.data, rtol=0, atol=atol)
            for flag in ("iscrowd", "difficult", "truncated"):
                assert getattr(p, flag).tolist() == getattr(q, flag).tolist(), (x.file_name, flag)
