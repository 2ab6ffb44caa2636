"""Decoding a training image with OpenCV, straight to its pre-resized (fitted) size.

The file is read once, checked (empty, truncated JPEG/PNG — OpenCV would decode a grey
half-image —, undecodable, size different from the annotation) and decoded as
:func:`yoloxkit.data.images.decode_image` (and the reference's ``cv2.imread``) decodes it:
EXIF orientation applied, 3 channels, 8 bits. A JPEG at least twice as large as its fitted
size is decoded at 1/2, 1/4 or 1/8 scale by libjpeg, which cuts decode time and memory for
very large images (aerial scenes of 20000 px); the final resize to the fitted size is bilinear, as the reference's.
Any problem raises :class:`BadImageError` naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..data.imageheader import ImageTooLargeError
from ..data.images import decode_image
from ..datasets.imagefiles import is_truncated
from ..errors import YoloxkitError

_JPEG = (".jpg", ".jpeg")
_TAIL = 4096  # bytes inspected for the end marker


class BadImageError(YoloxkitError):
    """An image that cannot be used for training; ``path`` and ``reason`` are kept for reports."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unreadable training image {path}: {reason}")
        self.path = path
        self.reason = reason


def reduction(size: tuple[int, int], fitted: tuple[int, int], suffix: str) -> int:
    """The largest libjpeg scale denominator (1, 2, 4, 8) that still decodes at least ``fitted`` pixels."""
    if suffix.lower() not in _JPEG:
        return 1
    for factor in (8, 4, 2):
        if math.ceil(size[0] / factor) >= fitted[0] and math.ceil(size[1] / factor) >= fitted[1]:
            return factor
    return 1


def decode_fitted(path: str, size: tuple[int, int], fitted: tuple[int, int], reduce: bool = True) -> np.ndarray:
    """Image ``path`` (annotated ``size`` (h, w)) as BGR uint8 resized to ``fitted`` (h, w)."""
    try:
        data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise BadImageError(path, f"cannot read ({exc.strerror or exc})") from None
    suffix = Path(path).suffix.lower()
    if data.size == 0:
        raise BadImageError(path, "empty file")
    if is_truncated(data[-_TAIL:].tobytes(), suffix):
        raise BadImageError(path, "truncated file (no end marker)")
    factor = reduction(size, fitted, suffix) if reduce else 1
    try:
        image = decode_image(data, path, reduce=factor)
    except ImageTooLargeError as exc:
        raise BadImageError(path, exc.reason) from None
    except YoloxkitError:
        raise BadImageError(path, "cannot decode (corrupt or unsupported format)") from None
    expected = (math.ceil(size[0] / factor), math.ceil(size[1] / factor))
    if image.shape[:2] != expected:
        scale = f" at 1/{factor} scale" if factor > 1 else ""
        found = f"{image.shape[1]}x{image.shape[0]}{scale}"
        raise BadImageError(path, f"the file decodes to {found}, but the annotation says {size[1]}x{size[0]}")
    if image.shape[:2] != tuple(fitted):
        image = cv2.resize(image, (fitted[1], fitted[0]), interpolation=cv2.INTER_LINEAR)
    return image
