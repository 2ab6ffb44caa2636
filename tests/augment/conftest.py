"""Fixtures: COCO128 as a COCO JSON (yoloxkit's converter, in a temp dir) and the reference's pipeline on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from yoloxkit.datasets import Dataset, Report, load_dataset, write_dataset
from yoloxkit.loader import BadImageLog, TrainRecords, TrainSource, build_store

from .helpers import COCO128

#: Input size of the comparisons with the reference (small: the tests must stay fast).
SIZE = (320, 320)


@pytest.fixture(scope="session")
def coco128_coco(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset]:
    """COCO128's train split converted to COCO JSON (images hard-linked, not copied) and read back."""
    if not COCO128.is_dir():
        pytest.skip(f"COCO128 not found at {COCO128}")
    source = load_dataset(COCO128)
    source.splits = {"train": source.splits["train"]}
    root = tmp_path_factory.mktemp("coco128-coco")
    write_dataset(source, "coco", root, Report())
    return root, load_dataset(root / "annotations" / "instances_train.json")


@pytest.fixture(scope="session")
def reference_dataset(coco128_coco: tuple[Path, Dataset]) -> Callable[..., object]:
    """A builder of the reference's ``MosaicDetection`` over COCO128 (images cached in RAM, built once)."""
    yolox_data = pytest.importorskip("yolox.data", reason="the reference (pixeltable-yolox) is not installed")
    from loguru import logger

    logger.disable("yolox")
    root, _ = coco128_coco
    base = yolox_data.CocoDataset(data_dir=str(root), json_file="instances_train.json", name="train", img_size=SIZE,
                                  cache=True, cache_type="ram")  # fmt: skip

    def build(**kwargs: object) -> object:
        options = {"degrees": 10.0, "translate": 0.1, "mosaic_scale": (0.1, 2.0), "mixup_scale": (0.5, 1.5), "shear": 2.0,
                   "enable_mixup": True, "mosaic_prob": 1.0, "mixup_prob": 1.0, "flip_prob": 0.5, "hsv_prob": 1.0}  # fmt: skip
        options.update(kwargs)
        transform = yolox_data.TrainTransform(max_labels=120, flip_prob=options.pop("flip_prob"), hsv_prob=options.pop("hsv_prob"))
        return yolox_data.MosaicDetection(base, img_size=SIZE, mosaic=True, preproc=transform, **options)

    return build


@pytest.fixture(scope="session")
def our_source(coco128_coco: tuple[Path, Dataset]) -> TrainSource:
    """yoloxkit's source over the same COCO JSON, images cached in RAM and fully decoded (as the reference)."""
    _, dataset = coco128_coco
    records = TrainRecords.from_split(dataset, "train", SIZE)
    return TrainSource(records, build_store(records, "ram", BadImageLog(), reduce=False))
