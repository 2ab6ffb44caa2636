"""The preprocessing contract: bit-identical to the reference's validation transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.reference import coco128_files
from yoloxkit.data.images import read_image, to_bgr_uint8
from yoloxkit.data.preprocess import PreprocessContract, letterbox, preprocess, preprocess_batch
from yoloxkit.errors import YoloxkitError

yolox = pytest.importorskip("yolox", reason="the reference (pixeltable-yolox) is not installed")
from yolox.data.data_augment import ValTransform  # noqa: E402

SIZES = [(640, 640), (416, 416), (384, 640), (256, 160)]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_equals_reference_val_transform_bit_for_bit(size, legacy):
    contract = PreprocessContract(size, legacy=legacy)
    images = [read_image(p) for p in coco128_files(4)]
    batch, ratios = preprocess_batch(images, contract)
    for image, row, ratio in zip(images, batch, ratios):
        expected, _ = ValTransform(legacy=legacy)(image, None, size)
        single, single_ratio = preprocess(image, contract)
        assert single.dtype == expected.dtype == np.float32
        assert np.array_equal(single, expected)
        assert np.array_equal(row.numpy(), expected)
        assert ratio == single_ratio == min(size[0] / image.shape[0], size[1] / image.shape[1])
    assert batch.is_contiguous()


def test_letterbox_places_top_left_and_pads_114():
    image = np.full((100, 200, 3), 7, np.uint8)
    canvas, r = letterbox(image, (64, 64))
    assert r == pytest.approx(0.32)
    assert (canvas[:32, :64] == 7).all()
    assert (canvas[32:] == 114).all()


def test_extreme_aspect_ratio_keeps_at_least_one_pixel():
    canvas, r = letterbox(np.zeros((1, 5000, 3), np.uint8), (64, 64))
    assert canvas.shape == (64, 64, 3) and (canvas[0] == 0).all() and (canvas[1:] == 114).all()


def test_conversions_are_explicit():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(to_bgr_uint8(grey), np.repeat(grey[..., None], 3, 2))
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 9, 200
    assert np.array_equal(to_bgr_uint8(bgra)[..., 0], np.full((2, 2), 9))
    deep = np.full((2, 2, 3), 65535, np.uint16)
    assert (to_bgr_uint8(deep) == 255).all()
    unit = np.full((2, 2, 3), 0.5, np.float32)
    assert (to_bgr_uint8(unit) == 128).all()
    with pytest.raises(YoloxkitError, match=r"\[0, 1\]"):
        to_bgr_uint8(np.full((2, 2, 3), 3.0))
    with pytest.raises(YoloxkitError, match="empty image"):
        to_bgr_uint8(np.zeros((0, 4, 3), np.uint8))


def test_contract_validates_and_round_trips():
    contract = PreprocessContract((384, 640), legacy=True)
    assert PreprocessContract.from_dict(contract.to_dict()) == contract
    with pytest.raises(YoloxkitError, match="multiples of 32"):
        PreprocessContract((100, 640))


def test_unreadable_files_are_named(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(YoloxkitError, match="broken.jpg"):
        read_image(broken)
    with pytest.raises(YoloxkitError, match="not found.*missing.png"):
        read_image(tmp_path / "missing.png")
    assert isinstance(preprocess_batch([read_image(coco128_files(1)[0])], PreprocessContract((64, 64)))[0], torch.Tensor)


def test_files_are_read_as_the_reference_reads_them(tmp_path):
    """EXIF orientation applied, 16-bit and greyscale files reduced like cv2.imread does."""
    import cv2
    from PIL import Image

    from yoloxkit.datasets.imagefiles import image_size

    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(rotated, exif=exif)
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), (np.arange(30, dtype=np.uint16) * 2000).reshape(5, 6))
    for path in (rotated, deep):
        assert np.array_equal(read_image(path), cv2.imread(str(path)))
    assert read_image(rotated).shape[:2] == (60, 40)
    assert image_size(rotated) == (40, 60)  # (width, height) as displayed
