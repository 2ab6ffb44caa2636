"""``data check`` findings and ``--fix`` on small hand-made datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yoloxkit.datasets import Category, Report, Split
from yoloxkit.datasets.check import check_dataset, inspect_images
from yoloxkit.datasets.fix import fix_dataset
from yoloxkit.structures.boxes import BoxFormat

from .helpers import tiny_dataset, write_blank


def _check(dataset) -> Report:
    report = Report(strict=False)
    check_dataset(dataset, report, inspect_images(dataset))
    return report


def _kinds(findings) -> list[str]:
    return sorted(f.kind for f in findings)


def test_box_problems(tmp_path):
    boxes = [
        [[1, 1, 10, 10], [1, 1, 10, 10]],  # duplicate
        [[5, 5, 5, 9], [70, 5, 80, 9], [-3, 2, 20, 20], [float("nan"), 0, 1, 1]],  # degenerate, outside, crossing, NaN
        [[0.0, 0.0, 64.2, 48.0]],  # within the rounding tolerance
    ]
    report = _check(tiny_dataset(tmp_path, boxes))
    assert _kinds(report.errors) == ["bad-box", "degenerate-box", "outside-image"]
    assert _kinds(report.warnings) == ["duplicate", "out-of-bounds", "unused-class"]
    assert report.counts["splits"]["train"]["objects"] == 7


def test_fix_cleans_and_lists_every_change(tmp_path):
    dataset = tiny_dataset(tmp_path, [[[1, 1, 10, 10], [1, 1, 10, 10]], [[5, 5, 5, 9], [70, 5, 80, 9], [-3, 2, 20, 20]]])
    before = dataset.splits["train"].images[1].annotations.boxes.data.copy()
    fixed, changes = fix_dataset(dataset, inspect_images(dataset))
    texts = [c["change"] for c in changes]
    assert [t.split(":")[0] for t in texts] == ["object 2 removed", "object 2 removed", "object 1 removed", "object 3 clipped to the image"]
    first, second = fixed.splits["train"].images
    assert len(first.annotations) == 1
    np.testing.assert_array_equal(second.annotations.boxes.data, [[0, 2, 20, 20]])
    np.testing.assert_array_equal(dataset.splits["train"].images[1].annotations.boxes.data, before)  # input untouched
    assert not _check(fixed).errors


def test_category_ids(tmp_path):
    dataset = tiny_dataset(tmp_path, [[[1, 1, 10, 10]]])
    dataset.categories = [Category(0, "cat"), Category(1, "dog"), Category(5, "cow")]
    dataset.splits["train"].images[0].annotations.category_ids[:] = 7
    report = _check(dataset)
    assert _kinds(report.errors) == ["unknown-category"]
    assert {"category-gaps", "zero-based-ids", "unused-class"} <= set(_kinds(report.warnings))


def test_image_problems_and_leakage(tmp_path):
    dataset = tiny_dataset(tmp_path, [[[1, 1, 10, 10]], [[1, 1, 10, 10]], [], []])
    images = dataset.splits["train"].images
    images[0].width = 100  # size disagrees with the file
    data = (tmp_path / "im1.png").read_bytes()
    (tmp_path / "im1.png").write_bytes(data[: len(data) // 2])  # truncated
    (tmp_path / "im2.png").write_bytes(b"not an image")
    (tmp_path / "im3.png").unlink()
    write_blank(tmp_path / "val" / "copy.png", 64, 48)
    (tmp_path / "val" / "copy.png").write_bytes((tmp_path / "im0.png").read_bytes())
    leak = tiny_dataset(tmp_path / "val", [[]]).splits["train"].images[0]
    leak.file_name = "copy.png"
    dataset.splits["val"] = Split("val", tmp_path / "val", [leak])
    report = _check(dataset)
    assert _kinds(report.errors) == ["corrupt-image", "corrupt-image", "missing-image", "size-mismatch"]
    assert "truncated" in next(f.message for f in report.errors if Path(f.file).name == "im1.png")
    assert [f.kind for f in report.warnings if f.kind == "leakage"] == ["leakage"]
    fixed, changes = fix_dataset(dataset, inspect_images(dataset))
    assert len(fixed.splits["train"].images) == 1 and fixed.splits["train"].images[0].width == 64
    assert len(changes) == 4


def test_oriented_boxes_are_checked_as_polygons(tmp_path):
    quads = [[[10, 10, 20, 12, 18, 22, 8, 20], [10, 10, 20, 10, 30, 10, 40, 10], [60, 40, 70, 40, 70, 50, 60, 50]]]
    dataset = tiny_dataset(tmp_path, quads, box_format=BoxFormat.QBOX)
    report = _check(dataset)
    assert _kinds(report.errors) == ["degenerate-box"]
    assert _kinds(report.warnings) == ["out-of-bounds", "unused-class"]
    fixed, changes = fix_dataset(dataset, inspect_images(dataset))
    assert len(changes) == 1  # polygons crossing the border are kept whole, not clipped
    assert len(fixed.splits["train"].images[0].annotations) == 2
