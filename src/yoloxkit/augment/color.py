"""HSV jitter (reference ``augment_hsv``): integer offsets added in OpenCV's 8-bit HSV space.

Offsets are ``U(-1, 1) * gains`` per channel (H, S, V; gains 5, 30, 30), each channel switched
on with probability 0.5, truncated to integers. Hue wraps modulo 180, saturation and value are
clipped to [0, 255]. Instead of the reference's int16 arithmetic (same values): a saturating
``cv2.add`` when the hue offset is 0, else one 256-entry lookup table per channel. When every
offset is 0 the image is returned unchanged (the reference still makes the lossy
BGR -> HSV -> BGR round trip).
"""

from __future__ import annotations

import cv2
import numpy as np

_LEVELS = np.arange(256, dtype=np.int16)


def sample_hsv_offsets(rng: np.random.Generator, gains: tuple[int, int, int]) -> np.ndarray:
    """Three int16 offsets (H, S, V) with the reference's distribution."""
    offsets = rng.uniform(-1, 1, 3) * np.asarray(gains, dtype=np.float64)
    offsets *= rng.integers(0, 2, 3)
    return offsets.astype(np.int16)  # truncation toward zero, as the reference


def hsv_lut(offsets: np.ndarray) -> np.ndarray:
    """The ``[256, 1, 3]`` uint8 table mapping H, S, V levels to their shifted values."""
    table = np.empty((256, 1, 3), dtype=np.uint8)
    table[:, 0, 0] = (_LEVELS + offsets[0]) % 180
    table[:, 0, 1] = np.clip(_LEVELS + offsets[1], 0, 255)
    table[:, 0, 2] = np.clip(_LEVELS + offsets[2], 0, 255)
    return table


def hsv_jitter(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A new BGR uint8 image with the H, S, V ``offsets`` applied (``image`` is left untouched)."""
    if not offsets.any():
        return image
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    if offsets[0]:
        cv2.LUT(hsv, hsv_lut(offsets), dst=hsv)
    else:
        cv2.add(hsv, (0, int(offsets[1]), int(offsets[2]), 0), dst=hsv)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=hsv)
