"""Reading images from disk and normalising them to the BGR uint8 HxWx3 that YOLOX expects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import YoloxkitError, last_line
from .imageheader import check_pixel_limit

#: File suffixes treated as images when a folder or glob is scanned.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def to_bgr_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert greyscale, BGRA and 16-bit/float images to BGR uint8 HxWx3, explicitly.

    - HxW or HxWx1 greyscale -> replicated to 3 channels;
    - HxWx4 (OpenCV's BGRA) -> alpha dropped;
    - uint16 -> scaled by 1/257 (full 16-bit range onto 0-255);
    - float in [0, 1] -> scaled by 255; other floats are rejected (their range is unknown).
    """
    if not isinstance(image, np.ndarray):
        raise YoloxkitError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise YoloxkitError(f"{name}: unsupported image shape {image.shape}; expected HxW, HxWx3 or HxWx4")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise YoloxkitError(f"{name}: empty image of shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise YoloxkitError(f"{name}: float images must hold values in [0, 1]")
        image = (image * 255.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise YoloxkitError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


_DECODE_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_image(data: np.ndarray | bytes, name: str, reduce: int = 1, max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 HxWx3, as ``cv2.imread`` reads files.

    Same conversions as the reference's ``cv2.imread``: the EXIF orientation of JPEGs is
    applied, greyscale is replicated to 3 channels, alpha is dropped and 16-bit samples are
    reduced to 8 bits by OpenCV's documented rules. ``reduce`` = 2, 4 or 8 decodes at that
    fraction of the size (JPEG: by libjpeg, much faster for very large images). An image
    whose header claims more pixels than the limit (:mod:`yoloxkit.data.imageheader`) is
    refused before decoding; every failure is a one-line YoloxkitError naming ``name``.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buffer.size == 0:
        raise YoloxkitError(f"image file is empty: {name}")
    check_pixel_limit(buffer[:65536].tobytes(), name, max_pixels)
    try:
        image = cv2.imdecode(buffer, _DECODE_FLAGS[reduce])
    except cv2.error as exc:
        raise YoloxkitError(f"cannot decode image {name}: {last_line(exc, 'OpenCV error')}") from None
    if image is None:
        raise YoloxkitError(f"cannot decode image (corrupt or unsupported format): {name}")
    return image


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as BGR uint8 HxWx3 (see :func:`decode_image`); errors name the file.

    The file is read with Python's file functions (any file name works, also bytes that are
    not UTF-8) and decoded in memory.
    """
    path = Path(path)
    if not path.exists():
        raise YoloxkitError(f"image not found: {path}")
    if path.is_dir():
        raise YoloxkitError(f"expected an image file, got a folder: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YoloxkitError(f"cannot read image {path}: {exc.strerror or exc}") from None
    return decode_image(data, str(path))
