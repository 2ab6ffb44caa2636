"""Image files seen from the annotation side: sizes from headers, integrity, content hashes."""

from __future__ import annotations

import hashlib
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.imageheader import ImageTooLargeError, check_pixel_limit
from ..data.images import IMAGE_SUFFIXES, decode_image
from ..errors import YoloxkitError


_EXIF_ORIENTATION = 0x0112


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` read from the file header only (Pillow), without decoding the pixels.

    The EXIF orientation is applied (width and height swapped for 90-degree orientations),
    as :func:`yoloxkit.data.images.read_image` and the reference's ``cv2.imread`` do.
    """
    if not path.is_file():
        raise YoloxkitError(f"image not found: {path}")
    try:
        with path.open("rb") as handle:
            check_pixel_limit(handle.read(65536), str(path))
        with warnings.catch_warnings():
            # Our own pixel limit (above) decides, not Pillow's bomb check (179 M pixels).
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF data too: the header is all we need
            with Image.open(path) as image:
                width, height = int(image.width), int(image.height)
                rotated = image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
        return (height, width) if rotated else (width, height)
    except Image.DecompressionBombError as exc:
        raise YoloxkitError(f"{path}: image too large ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise YoloxkitError(f"{path}: cannot read the image header ({type(exc).__name__}: {exc})") from None


def find_image(folder: Path, stem: str) -> Path | None:
    """The image ``folder/stem.<suffix>`` for any known image suffix (either case), if one exists."""
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def is_truncated(data: bytes, suffix: str) -> bool:
    """True when a JPEG lacks its end-of-image marker or a PNG its IEND chunk (OpenCV decodes those anyway)."""
    if suffix in (".jpg", ".jpeg"):
        return not data.rstrip(b"\0").endswith(b"\xff\xd9")
    if suffix == ".png":
        return b"IEND" not in data[-16:]
    return False


def inspect_image(path: Path) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """Decode ``path`` fully: ``((width, height) or None, problem or None, sha1 of the bytes or None)``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    digest = hashlib.sha1(data).hexdigest()
    if is_truncated(data, path.suffix.lower()):
        return None, "truncated file (no end marker): the image is incomplete", digest
    if not data:
        return None, "empty file", digest
    try:
        image = decode_image(data, str(path))
    except ImageTooLargeError as exc:
        return None, exc.reason, digest
    except YoloxkitError:
        return None, "cannot decode (corrupt or unsupported format)", digest
    height, width = image.shape[:2]
    return (int(width), int(height)), None, digest
