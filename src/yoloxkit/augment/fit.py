"""Fitting an image into the input size keeping its aspect ratio (the reference's pre-resize).

The reference resizes every training image on load so that it fits ``input_size``
(``r = min(H / h, W / w)``, size ``(int(w * r), int(h * r))``, bilinear) and scales its boxes by
``r``; mosaic applies the same rule once more to each tile. Unlike the letterbox of the
preprocessing contract, nothing is padded.
"""

from __future__ import annotations

import cv2
import numpy as np


def fit_scale(height: int, width: int, size: tuple[int, int]) -> tuple[float, int, int]:
    """``(r, new_height, new_width)`` for fitting a ``height x width`` image into ``size`` (h, w)."""
    r = min(size[0] / height, size[1] / width)
    return r, max(int(height * r), 1), max(int(width * r), 1)


def fit_image(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The image resized to fit ``size`` (returned as is when the size does not change) and ``r``."""
    r, new_h, new_w = fit_scale(image.shape[0], image.shape[1], size)
    if (new_h, new_w) != image.shape[:2]:
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return image, r
