"""Random flips of an image with its boxes: horizontal, vertical or diagonal (both axes).

One uniform draw picks at most one direction, in the order horizontal, vertical, diagonal, with
the probabilities ``flip_prob``, ``vertical_flip_prob`` and ``diagonal_flip_prob`` (mmdet
``RandomFlip`` with a direction list: the rotated recipe gives each 0.25, and no flip 0.25). With
only ``flip_prob`` set this is the YOLOX reference's ``random() < flip_prob`` mirror, draw for draw.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .config import AugmentConfig
from .geometry import reflect_boxes
from .sample import Sample

Direction = Literal["horizontal", "vertical", "diagonal"]

#: ``cv2.flip`` codes per direction.
_CODES: dict[str, int] = {"horizontal": 1, "vertical": 0, "diagonal": -1}


def choose_flip(rng: np.random.Generator, config: AugmentConfig) -> Direction | None:
    """The direction of this sample's flip, or None (one ``rng.random()`` draw)."""
    u = rng.random()
    threshold = 0.0
    for direction, prob in (("horizontal", config.flip_prob), ("vertical", config.vertical_flip_prob),
                            ("diagonal", config.diagonal_flip_prob)):  # fmt: skip
        threshold += prob
        if u < threshold:
            return direction
    return None


def flip_sample(sample: Sample, direction: Direction | None) -> Sample:
    """The sample flipped in ``direction`` (itself for None); the image is a new array."""
    if direction is None:
        return sample
    height, width = sample.image.shape[:2]
    boxes = reflect_boxes(
        sample.boxes,
        width=width if direction != "vertical" else None,
        height=height if direction != "horizontal" else None,
    )
    return sample.with_boxes(boxes, cv2.flip(sample.image, _CODES[direction]))
