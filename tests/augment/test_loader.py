"""The loader: worker processes, seeds, the no-mosaic switch, caches and their size check, bad images."""

from __future__ import annotations

import logging
import os
from collections import namedtuple
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloxkit.augment import AugmentConfig
from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import PreprocessContract, letterbox, preprocess_batch
from yoloxkit.datasets import Annotations, Category, Dataset, ImageRecord, Split
from yoloxkit.errors import YoloxkitError
from yoloxkit.loader import (
    BadImageError, BadImageLog, LoaderConfig, TrainRecords, ValDataset, build_store, decode_fitted, images_to_device,
    make_train_loader, make_val_loader,
)  # fmt: skip
from yoloxkit.loader import cache as cache_module
from yoloxkit.loader.decode import reduction
from yoloxkit.loader.factory import _loader_kwargs
from yoloxkit.structures.boxes import BoxFormat

from .helpers import rectangles

SIZE = (128, 128)
AUG = AugmentConfig(input_size=SIZE)


def write_dataset(folder: Path, count: int = 8, bad: dict[int, bytes] | None = None, identical: bool = False) -> Dataset:
    """``count`` 128x96 JPEGs of coloured rectangles (category ids 3 and 7); ``bad`` replaces files' bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    first = rectangles(rng, 96, 128, 3)
    images = []
    for i in range(count):
        sample = first if identical else rectangles(rng, 96, 128, 3)
        name = f"im{i}.jpg"
        cv2.imwrite(str(folder / name), sample.image)
        if bad and i in bad:
            (folder / name).write_bytes(bad[i])
        ids = [3 if c % 2 else 7 for c in sample.classes.tolist()]
        images.append(ImageRecord(name, 128, 96, Annotations.from_lists(BoxFormat.XYXY, sample.boxes.data.tolist(), ids), i + 1))
    return Dataset([Category(3, "odd"), Category(7, "even")], {"train": Split("train", folder, images)})


def truncated_jpeg(folder: Path) -> bytes:
    """A real JPEG cut in half (OpenCV would decode it into a grey half-image)."""
    ok, data = cv2.imencode(".jpg", rectangles(np.random.default_rng(9), 96, 128, 2).image)
    return data.tobytes()[: len(data) // 2]


def batches(loader) -> list:
    return [(b.images.clone(), b.targets.clone(), b.indices) for b in loader]


def test_worker_batches_are_uint8_images_and_padded_targets(tmp_path):
    loader = make_train_loader(write_dataset(tmp_path), "train", AUG, LoaderConfig(batch_size=4, num_workers=2, seed=0))
    assert loader.loader.persistent_workers and loader.loader.num_workers == 2
    for _ in range(2):  # two epochs on the same (persistent) workers
        epoch = batches(loader)
        assert len(epoch) == 2
        images, targets, indices = epoch[0]
        assert images.dtype == torch.uint8 and images.shape == (4, 128, 128, 3)
        assert targets.dtype == torch.float32 and targets.shape == (4, 120, 5)
        assert sorted(i for _, _, idx in epoch for i in idx) == list(range(8))


def test_seeded_loaders_repeat_and_workers_draw_differently(tmp_path):
    dataset = write_dataset(tmp_path, identical=True)
    config = LoaderConfig(batch_size=1, num_workers=2, seed=5, shuffle=False)
    first, second = (batches(make_train_loader(dataset, "train", AUG, config)) for _ in range(2))
    for (a, ta, _), (b, tb, _) in zip(first, second):
        assert torch.equal(a, b) and torch.equal(ta, tb)
    # Batches 0 and 1 come from workers 0 and 1, built from identical images: only the seeds differ.
    assert not torch.equal(first[0][0], first[1][0])


def test_closing_mosaic_reaches_persistent_workers(tmp_path):
    loader = make_train_loader(write_dataset(tmp_path), "train", AUG, LoaderConfig(batch_size=4, num_workers=2, seed=1))
    mosaics = torch.cat([b.images for b in loader])
    assert not (mosaics[:, 96:] == 114).all()
    loader.close_mosaic()
    singles = torch.cat([b.images for b in loader])
    assert not loader.mosaic and (singles[:, 96:] == 114).all()  # one 128x96 image, letterboxed top-left


def test_images_to_device_gives_the_contract_input(tmp_path):
    """Validation images are the preprocessing contract's letterbox; on the device they equal preprocess_batch."""
    dataset = write_dataset(tmp_path, count=3)
    records = TrainRecords.from_split(dataset, "train", SIZE)
    val = ValDataset(records)
    paths = [dataset.splits["train"].path(image) for image in dataset.splits["train"].images]
    for i, path in enumerate(paths):
        image, targets, (index, r) = val[i]
        canvas, expected_r = letterbox(read_image(path), SIZE)
        assert np.array_equal(image, canvas) and r == expected_r and index == i
    batch, targets, infos = next(iter(make_val_loader(dataset, "train", SIZE, LoaderConfig(batch_size=3, num_workers=0))))
    expected, ratios = preprocess_batch([read_image(p) for p in paths], PreprocessContract(SIZE))
    assert torch.equal(images_to_device(batch, "cpu"), expected)
    assert [r for _, r in infos] == ratios and targets.shape == (3, 120, 5)


def test_records_follow_the_reference(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    boxes = [[10, 10, 50, 40], [-20, 5, 30, 20], [300, 10, 360, 40], [5, 5, 5, 30], [0, 0, 10, 10]]
    ann = Annotations.from_lists(BoxFormat.XYXY, boxes, [7, 3, 3, 7, 3], iscrowd=[0, 0, 0, 0, 1])
    dataset = Dataset([Category(7, "b"), Category(3, "a")], {"t": Split("t", tmp_path, [ImageRecord("a.jpg", 256, 64, ann)])})
    records = TrainRecords.from_split(dataset, "t", (128, 128))  # fit ratio 0.5
    boxes, classes = records.objects(0)
    np.testing.assert_allclose(boxes.data, [[5, 5, 25, 20], [0, 2.5, 15, 10]])  # crossing box clipped
    assert classes.tolist() == [1, 0]  # class index = position among the sorted ids (3, 7)
    assert records.dropped == {"crowd": 1, "degenerate or outside": 2, "unknown category": 0}
    assert records.fitted_shape(0) == (32, 128)


def test_ram_and_disk_caches_hold_the_fitted_images(tmp_path, monkeypatch):
    records = TrainRecords.from_split(write_dataset(tmp_path / "data"), "train", SIZE)
    decoded = [decode_fitted(p, tuple(s), records.fitted_shape(i)) for i, (p, s) in enumerate(zip(records.paths, records.sizes))]
    ram = build_store(records, "ram", BadImageLog())
    disk = build_store(records, "disk", BadImageLog(), cache_dir=tmp_path / "cache")
    for i, image in enumerate(decoded):
        assert np.array_equal(ram.get(i), image) and np.array_equal(disk.get(i), image)
    assert not ram.get(0).flags.writeable and ram.nbytes == sum(d.nbytes for d in decoded)
    # Built once: a second store reads the file without decoding; an edited image invalidates it.
    monkeypatch.setattr(cache_module, "decode_fitted", lambda *a: pytest.fail("decoded again"))
    assert np.array_equal(build_store(records, "disk", BadImageLog(), cache_dir=tmp_path / "cache").get(3), decoded[3])
    os.utime(records.paths[0], ns=(1, 1))
    with pytest.raises(pytest.fail.Exception):
        build_store(records, "disk", BadImageLog(), cache_dir=tmp_path / "cache")


def test_a_cache_that_would_not_fit_is_refused_with_the_numbers(tmp_path, monkeypatch):
    records = TrainRecords.from_split(write_dataset(tmp_path / "data"), "train", SIZE)
    memory = namedtuple("memory", "available total")
    monkeypatch.setattr(cache_module.psutil, "virtual_memory", lambda: memory(512 << 20, 8 << 30))
    with pytest.raises(YoloxkitError, match=r"RAM cache needs 0\.00 GiB for 8 images fitted to 128x128 .*only 0\.50 GiB"):
        build_store(records, "ram", BadImageLog())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache_module.shutil, "disk_usage", lambda _: usage(1 << 40, 1 << 40, 100 << 20))
    with pytest.raises(YoloxkitError, match=r"disk cache needs .* but only 0\.10 GiB are free"):
        build_store(records, "disk", BadImageLog(), cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("cache", ["none", "ram"])
def test_an_unreadable_image_stops_training_with_its_name(tmp_path, cache):
    dataset = write_dataset(tmp_path, bad={5: b"not a jpeg at all \xff\xd9"})
    config = LoaderConfig(batch_size=4, num_workers=2, seed=0, cache=cache)
    with pytest.raises(YoloxkitError, match=r"unreadable training image .*im5\.jpg: cannot decode") as info:
        loader = make_train_loader(dataset, "train", AugmentConfig(input_size=SIZE, mosaic_prob=0.0), config)
        batches(loader)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cache", ["none", "ram"])
def test_skipped_images_are_counted_and_reported(tmp_path, cache, caplog):
    dataset = write_dataset(tmp_path, bad={2: b"\xff\xd8garbage", 6: truncated_jpeg(tmp_path)})
    config = LoaderConfig(batch_size=4, num_workers=2, seed=0, cache=cache, skip_bad_images=True)
    with caplog.at_level(logging.WARNING, logger="yoloxkit.loader"):
        loader = make_train_loader(dataset, "train", AugmentConfig(input_size=SIZE, mosaic_prob=0.0), config)
        assert sum(len(b.indices) for b in loader) == 8  # every sample delivered, bad ones replaced
    log = loader.bad_images
    assert {Path(p).name for p in log.reasons} == {"im2.jpg", "im6.jpg"}
    assert "truncated" in log.reasons[str(tmp_path / "im6.jpg")]
    assert log.replaced >= (2 if cache == "none" else 0)
    assert "2 unreadable image(s) skipped" in caplog.text and "im6.jpg" in caplog.text


def test_very_large_jpegs_are_decoded_reduced(tmp_path):
    y, x = np.mgrid[0:1800, 0:2400]
    image = np.stack([(x / 10) % 256, (y / 8) % 256, ((x + y) / 16) % 256], axis=2).astype(np.uint8)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), image)
    assert reduction((1800, 2400), (240, 320), ".jpg") == 4 and reduction((1800, 2400), (240, 320), ".png") == 1
    fast = decode_fitted(str(path), (1800, 2400), (240, 320))
    full = decode_fitted(str(path), (1800, 2400), (240, 320), reduce=False)
    assert fast.shape == full.shape == (240, 320, 3)
    assert np.abs(fast.astype(np.int16) - full).mean() < 3


def test_an_image_whose_size_disagrees_with_its_annotation_is_bad(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((50, 60, 3), np.uint8))
    with pytest.raises(BadImageError, match=r"decodes to 60x50, but the annotation says 64x48"):
        decode_fitted(str(tmp_path / "a.png"), (48, 64), (96, 128))


def test_memory_is_pinned_only_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _loader_kwargs(LoaderConfig())["pin_memory"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not _loader_kwargs(LoaderConfig())["pin_memory"]
    assert _loader_kwargs(LoaderConfig(pin_memory=True))["pin_memory"]
