"""Helpers for the augmentation and loader tests: synthetic rectangles, an in-memory source, statistics."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from yoloxkit.augment.sample import Sample
from yoloxkit.structures.boxes import BoxFormat, Boxes

#: The shared real datasets (CI has ``shared/`` beside the checkout); read in place, never copied.
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
COCO128 = SHARED / "coco128"

BACKGROUND = 30  # grey level of synthetic backgrounds (far from the 114 padding)
#: Distinct saturated colours (BGR), far from the background, the padding and each other.
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (200, 90, 255), (128, 128, 255)]


class MemorySource:
    """A :class:`yoloxkit.augment.SampleSource` over samples kept in memory."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def shape(self, index: int) -> tuple[int, int]:
        return self.samples[index].image.shape[:2]

    def objects(self, index: int) -> tuple[Boxes, np.ndarray]:
        sample = self.samples[index]
        return Boxes(sample.boxes.data.copy(), sample.boxes.format), sample.classes

    def image(self, index: int) -> np.ndarray:
        return self.samples[index].image

    def has_objects(self, index: int) -> bool:
        return len(self.samples[index]) > 0


def rectangles(rng: np.random.Generator, height: int, width: int, count: int, rotated: bool = False) -> Sample:
    """Solid rectangles of distinct colours on a flat background, not overlapping; class = colour index.

    Axis-aligned rectangles come as ``xyxy`` boxes (pixel-edge coordinates of the filled pixels);
    rotated ones as ``qbox`` polygons (clockwise on screen) drawn with ``cv2.fillPoly``.
    """
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    boxes, classes, taken = [], [], np.zeros((height, width), dtype=bool)
    for colour_index in rng.permutation(len(COLOURS))[:count].tolist():
        for _ in range(50):
            w, h = rng.uniform(0.12, 0.3) * width, rng.uniform(0.12, 0.3) * height
            cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
            angle = rng.uniform(0, np.pi / 2) if rotated else 0.0
            c, s = np.cos(angle), np.sin(angle)
            corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ np.array([[c, s], [-s, c]])
            corners += (cx, cy)
            mask = np.zeros((height, width), dtype=np.uint8)
            if rotated:
                cv2.fillPoly(mask, [np.round(corners * 16).astype(np.int32)], 1, shift=4)
            else:
                x1, y1, x2, y2 = (int(round(v)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
                mask[y1:y2, x1:x2] = 1
                corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)
            grown = cv2.dilate(mask, np.ones((7, 7), np.uint8)).astype(bool)
            if not (grown & taken).any():
                break
        else:
            continue
        taken |= mask.astype(bool)
        image[mask.astype(bool)] = COLOURS[colour_index]
        boxes.append(corners.reshape(-1) if rotated else corners[[0, 2]].reshape(-1))
        classes.append(colour_index)
    fmt = BoxFormat.QBOX if rotated else BoxFormat.XYXY
    data = np.array(boxes, dtype=np.float64).reshape(-1, fmt.width)
    return Sample(image, Boxes(data, fmt), np.array(classes, dtype=np.int64))


def colour_mask(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 0) -> np.ndarray:
    """Pixels within ``tolerance`` of ``colour`` on every channel."""
    return (np.abs(image.astype(np.int16) - np.array(colour, dtype=np.int16)) <= tolerance).all(axis=2)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    points = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, points, "right") / len(a) - np.searchsorted(b, points, "right") / len(b)).max())
