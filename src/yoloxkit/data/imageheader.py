"""Image dimensions from the first bytes of a file, and the project's decoded-pixel limit.

A 100-byte PNG can claim 100000 x 100000 pixels; decoding it would ask for 30 GB. Every image
yoloxkit reads is checked here against one limit *before* decoding. The limit is
:data:`DEFAULT_MAX_PIXELS` (covers DOTA's largest 20000 x 20000 scenes), changed with the
environment variable ``YOLOXKIT_MAX_PIXELS`` or :func:`set_max_pixels`.

The parsers read only the header fields (PNG IHDR, JPEG SOF, BMP, WebP, TIFF IFD); they never
raise on malformed bytes, they return ``None`` and leave the verdict to the decoder.
"""

from __future__ import annotations

import os
import struct

from ..errors import YoloxkitError

#: Default limit on decoded pixels per image: 2**29 (~537 M, 1.6 GB as BGR uint8).
DEFAULT_MAX_PIXELS = 1 << 29
_max_pixels: int | None = None


def max_pixels() -> int:
    """The pixel limit in force: :func:`set_max_pixels`, else ``$YOLOXKIT_MAX_PIXELS``, else the default."""
    if _max_pixels is not None:
        return _max_pixels
    value = os.environ.get("YOLOXKIT_MAX_PIXELS", "")
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(float(value))
    except ValueError:
        raise YoloxkitError(f"YOLOXKIT_MAX_PIXELS must be a number of pixels, got {value!r}") from None
    if limit < 1:
        raise YoloxkitError(f"YOLOXKIT_MAX_PIXELS must be >= 1, got {value!r}")
    return limit


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit for this process (``None``: back to the environment / default)."""
    global _max_pixels
    if limit is not None and limit < 1:
        raise YoloxkitError(f"the pixel limit must be >= 1, got {limit}")
    _max_pixels = limit


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8:
        return None
    magic, offset = struct.unpack(order + "HI", data[2:8])
    if magic != 42 or offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for index in range(count):
        entry = offset + 2 + 12 * index
        if entry + 12 > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            value = data[entry + 8 : entry + 12]
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2] if kind == 3 else value)[0]
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


_PARSERS = (_png, _jpeg, _bmp, _webp, _tiff)


def header_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` claimed by an image file's header, or None when not recognised."""
    for parse in _PARSERS:
        try:
            size = parse(data)
        except (struct.error, IndexError, ValueError):
            size = None
        if size is not None:
            return int(size[0]), int(size[1])
    return None


class ImageTooLargeError(YoloxkitError):
    """An image whose header claims more pixels than the limit; ``reason`` is the short cause."""

    def __init__(self, name: str, size: tuple[int, int], limit: int) -> None:
        self.reason = f"too many pixels: {size[0]} x {size[1]}, over the limit of {limit:,}"
        super().__init__(f"image too large: {name} is {size[0]} x {size[1]} pixels, over the limit of {limit:,} (set YOLOXKIT_MAX_PIXELS to allow more)")


def check_pixel_limit(data: bytes, name: str, limit: int | None = None) -> None:
    """Refuse, before decoding, an image whose header claims more pixels than the limit."""
    size = header_dimensions(data)
    limit = max_pixels() if limit is None else limit
    if size is not None and size[0] * size[1] > limit:
        raise ImageTooLargeError(name, size, limit)
