"""The images an export is checked and calibrated on by default: the user's own labelled split when
``--data`` is given, else the bundled demo image; never files outside the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yoloxkit.data.images import read_image
from yoloxkit.data.sources import DEMO_IMAGE, load_images
from yoloxkit.datasets import Report
from yoloxkit.datasets.load import load_dataset, write_dataset
from yoloxkit.datasets.synth import synthesize
from yoloxkit.errors import YoloxkitError
from yoloxkit.export.images import default_images


def test_without_data_the_bundled_demo_image() -> None:
    [image] = default_images(None, "val", 8)
    assert DEMO_IMAGE.is_file() and np.array_equal(image, read_image(DEMO_IMAGE))
    assert "yoloxkit" in DEMO_IMAGE.parts[-3]  # inside the package


def test_with_data_images_spread_over_the_split(tmp_path: Path) -> None:
    write_dataset(synthesize(tmp_path / "scratch", 20, 2, size=(48, 64), val_fraction=0.5, seed=3), "coco", tmp_path / "data", Report())
    val = load_dataset(tmp_path / "data").splits["val"]
    files = [val.path(record) for record in val.images]
    chosen = default_images(tmp_path / "data", "val", 4)
    assert len(chosen) == 4 and all(image.shape == (48, 64, 3) for image in chosen)
    expected = [read_image(files[i]) for i in (0, 3, 6, 9)]  # first, last and evenly between
    assert all(np.array_equal(a, b) for a, b in zip(chosen, expected))
    assert len(default_images(tmp_path / "data", "val", 50)) == len(files)  # never more than the split has


def test_load_images_counts_and_refuses_nothing(tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="at least one image"):
        load_images(None, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(YoloxkitError):
        load_images(tmp_path / "empty", 3)
