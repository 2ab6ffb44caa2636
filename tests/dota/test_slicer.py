"""Sliced prediction: tiles, offsets and merging, for axis-aligned and rotated detectors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.detector import Detector
from yoloxkit.dota import SlicedDetector, sliced_predict, sliding_windows
from yoloxkit.dota.split import SplitConfig
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures import BoxFormat, Boxes, Detections
from yoloxkit.structures.boxes import regularize_le90

NAMES = ["bright", "dim"]


class BlobDetector:
    """'Detects' filled shapes wholly inside the image it is given (a detector misses cut objects).

    Class 0 for white shapes, 1 for grey ones; oriented (minimum-area rbox) or axis-aligned.
    """

    class_names = NAMES

    def __init__(self, oriented: bool) -> None:
        self.oriented = oriented
        self.tiles: list[tuple[int, int]] = []

    def predict_arrays(self, images, sources, conf, iou, class_agnostic=False):
        return [self._detect(image, source) for image, source in zip(images, sources)]

    def _detect(self, image: np.ndarray, source) -> Detections:
        self.tiles.append(image.shape[:2])
        h, w = image.shape[:2]
        rows, scores, ids = [], [], []
        for cid, level in enumerate((255, 160)):
            mask = (np.abs(image.astype(int) - level).max(2) < 20).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                x, y, bw, bh = cv2.boundingRect(contour)
                if x == 0 or y == 0 or x + bw == w or y + bh == h:
                    continue
                if self.oriented:
                    (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
                    rows.append(regularize_le90(np.array([cx, cy, rw, rh, np.deg2rad(angle)])))
                else:
                    rows.append([x, y, x + bw, y + bh])
                scores.append(0.5 + 0.4 * cid)
                ids.append(cid)
        fmt = BoxFormat.RBOX if self.oriented else BoxFormat.XYXY
        return Detections(Boxes(np.array(rows, float).reshape(-1, fmt.width), fmt), np.array(scores), np.array(ids, np.int64), NAMES, (h, w), source)


def _scene() -> np.ndarray:
    image = np.zeros((500, 700, 3), np.uint8)
    rng = np.random.default_rng(0)
    for k in range(18):
        cx, cy = 40 + (k % 6) * 115 + rng.integers(-10, 10), 60 + (k // 6) * 160 + rng.integers(-10, 10)
        box = ((float(cx), float(cy)), (float(rng.integers(20, 50)), float(rng.integers(8, 20))), float(rng.uniform(-90, 90)))
        cv2.fillPoly(image, [cv2.boxPoints(box).round().astype(np.int32)], (255,) * 3 if k % 3 else (160,) * 3)
    return image


def _sorted_rows(det: Detections) -> np.ndarray:
    rows = np.concatenate([det.boxes.data, det.class_ids[:, None]], 1)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("oriented", [False, True])
def test_sliced_equals_whole_image_when_objects_fit_in_tiles(oriented):
    image = _scene()
    whole = BlobDetector(oriented).predict_arrays([image], ["scene.png"], 0.1, 0.1)[0]
    detector = BlobDetector(oriented)
    (sliced,) = SlicedDetector(detector, size=256, gap=96, merge_iou=0.1).predict_arrays([image], ["scene.png"], 0.1, 0.1)
    windows = sliding_windows(700, 500, SplitConfig(sizes=(256,), gaps=(96,)))
    assert len(detector.tiles) == len(windows) and set(detector.tiles) == {(256, 256)}
    assert sliced.image_size == (500, 700) and sliced.source == "scene.png"
    assert sliced.boxes.format == (BoxFormat.RBOX if oriented else BoxFormat.XYXY)
    assert len(whole) == 18
    assert np.allclose(_sorted_rows(sliced), _sorted_rows(whole), atol=1e-4)
    assert np.all(np.diff(sliced.scores) <= 0)


def test_small_image_is_one_padded_tile():
    image = _scene()[:200, :240]
    detector = BlobDetector(oriented=False)
    (result,) = sliced_predict(detector, [image], size=256, gap=64, iou=0.5)
    assert detector.tiles == [(256, 256)]
    padded = np.empty((256, 256, 3), np.uint8)
    padded[...] = (104, 116, 124)
    padded[:200, :240] = image
    assert np.array_equal(_sorted_rows(result), _sorted_rows(detector.predict_arrays([padded], [None], 0.1, 0.5)[0]))


def test_any_detector_runs_sliced():
    detector = Detector.untrained("yolox-nano", num_classes=3)
    detector.contract = PreprocessContract((64, 64))
    image = np.random.default_rng(1).integers(0, 255, (150, 230, 3), dtype=np.uint8)
    (result,) = sliced_predict(detector, [image], size=128, gap=32, conf=0.0, iou=0.5)
    assert result.image_size == (150, 230) and result.boxes.format == BoxFormat.XYXY
    assert len(result) > 0 and result.class_names == detector.class_names
    assert "tiles 128 px" in repr(SlicedDetector(detector, 128, 32))
    with pytest.raises(YoloxkitError, match="batch size"):
        SlicedDetector(detector, batch_size=0)
