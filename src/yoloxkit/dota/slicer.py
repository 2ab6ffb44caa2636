"""Sliced prediction on large images, for any detector (axis-aligned or rotated).

The image is cut into the DOTA split tool's windows (:func:`yoloxkit.dota.split.sliding_windows`:
``size`` pixels, overlapping by ``gap``, the last window moved back onto the border, windows
past a small image padded with the DOTA padding colour), each tile goes through the detector,
tile detections are shifted back by the tile's offset and merged with per-class NMS
(:func:`yoloxkit.dota.merge.merge_detections`). This is the test-time path of the DOTA
pipeline done in memory, and it serves ``yoloxkit predict --slice`` for plain YOLOX too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..errors import YoloxkitError
from ..ops import NMS_IOU
from ..structures import Detections
from .merge import merge_detections
from .split import SplitConfig, crop_patch, sliding_windows


class TileDetector(Protocol):
    """What the slicer needs from a detector (:class:`yoloxkit.Detector` and exported models fit).

    ``default_iou`` is optional: detectors without it get YOLOX's 0.45 when no ``iou`` is given.
    """

    class_names: list[str]

    def predict_arrays(
        self, images: list[np.ndarray], sources: list[str | None], conf: float, iou: float | None, class_agnostic: bool = False
    ) -> list[Detections]: ...


class SlicedDetector:
    """Wraps a detector so that every image is predicted tile by tile and merged back.

    It has the detector's ``predict_arrays`` signature, so it can stand wherever a detector is
    used for prediction. ``merge_iou`` is the NMS threshold across tiles (default: the ``iou``
    given to ``predict_arrays``, which defaults to the detector's ``default_iou``).
    """

    def __init__(
        self,
        detector: TileDetector,
        size: int = 1024,
        gap: int = 200,
        merge_iou: float | None = None,
        batch_size: int = 8,
        pad_value: tuple[int, int, int] = (104, 116, 124),
    ) -> None:
        if batch_size < 1:
            raise YoloxkitError(f"slice batch size must be >= 1, got {batch_size}")
        if merge_iou is not None and not 0.0 <= merge_iou <= 1.0:
            raise YoloxkitError(f"merge IoU must lie in [0, 1], got {merge_iou}")
        self.detector = detector
        self.config = SplitConfig(sizes=(size,), gaps=(gap,), padding_value=pad_value)
        self.merge_iou = merge_iou
        self.batch_size = batch_size

    @property
    def class_names(self) -> list[str]:
        """The wrapped detector's class names."""
        return self.detector.class_names

    @property
    def default_iou(self) -> float:
        """The wrapped detector's default NMS threshold."""
        return getattr(self.detector, "default_iou", NMS_IOU)

    def predict_arrays(
        self,
        images: list[np.ndarray],
        sources: list[str | None],
        conf: float,
        iou: float | None = None,
        class_agnostic: bool = False,
    ) -> list[Detections]:
        """Per BGR image: tile, predict every tile, shift back and merge (one Detections each)."""
        return [self.predict_image(image, source, conf, iou, class_agnostic) for image, source in zip(images, sources)]

    def predict_image(
        self, image: np.ndarray, source: str | None, conf: float, iou: float | None = None, class_agnostic: bool = False
    ) -> Detections:
        """Sliced prediction of one BGR uint8 image."""
        iou = self.default_iou if iou is None else iou
        height, width = image.shape[:2]
        windows = sliding_windows(width, height, self.config).tolist()
        parts = []
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            tiles = [crop_patch(image, window, self.config) for window in chunk]
            found = self.detector.predict_arrays(tiles, [source] * len(tiles), conf, iou, class_agnostic)
            parts += [(det, (window[0], window[1])) for det, window in zip(found, chunk)]
        merge_iou = iou if self.merge_iou is None else self.merge_iou
        return merge_detections(parts, (height, width), merge_iou, source, class_agnostic)

    def __repr__(self) -> str:
        size, gap = self.config.windows()[0]
        return f"SlicedDetector({self.detector!r}, tiles {size} px, gap {gap} px)"


def sliced_predict(
    detector: TileDetector,
    images: Sequence[np.ndarray],
    size: int = 1024,
    gap: int = 200,
    conf: float = 0.25,
    iou: float | None = None,
    merge_iou: float | None = None,
    class_agnostic: bool = False,
) -> list[Detections]:
    """Sliced prediction of BGR images with any detector (see :class:`SlicedDetector`)."""
    sliced = SlicedDetector(detector, size, gap, merge_iou)
    return sliced.predict_arrays(list(images), [None] * len(images), conf, iou, class_agnostic)
