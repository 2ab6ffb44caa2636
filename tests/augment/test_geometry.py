"""Boxes stay on their objects: synthetic images of solid coloured rectangles through every transform.

After a transform, every pixel of an object's colour must lie inside that object's box (or, for
polygons, inside the moved polygon), and each box must be covered by its colour — so a box can
neither drift off its object nor swell. Axis-aligned rectangles and rotated ones (``qbox``) alike.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from yoloxkit.augment import AugmentConfig, Sample, TrainPipeline
from yoloxkit.augment.affine import affine_matrix, sample_affine, warp_image
from yoloxkit.augment.geometry import clip_boxes, flip_boxes, warp_boxes
from yoloxkit.augment.mixup import mixup, sample_mixup
from yoloxkit.structures.boxes import BoxFormat, Boxes, convert

from .helpers import BACKGROUND, COLOURS, MemorySource, colour_mask, rectangles

SIZE = (256, 256)
CONFIG = AugmentConfig(input_size=SIZE, mosaic_scale=(0.5, 1.5), hsv_prob=0.0)


def _box_mask(boxes: Boxes, shape: tuple[int, int], grow: float = 0.0) -> np.ndarray:
    """Pixels whose centre lies inside any of ``boxes`` (polygons rasterised), grown by ``grow`` px."""
    mask = np.zeros(shape, dtype=np.uint8)
    quads = convert(boxes.data, boxes.format, BoxFormat.QBOX).reshape(-1, 4, 2) if len(boxes) else []
    for quad in quads:
        # Pixel (i, j) covers [j, j+1) x [i, i+1): shift by half a pixel onto the pixel-centre grid.
        cv2.fillPoly(mask, [np.round((quad - 0.5) * 16).astype(np.int32)], 1, shift=4)
    if grow:
        k = 2 * int(np.ceil(grow)) + 1
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    return mask.astype(bool)


def assert_on_objects(image: np.ndarray, boxes: Boxes, classes: np.ndarray, colours: dict[int, tuple], grow: float = 2.0,
                      complete: bool = True) -> int:  # fmt: skip
    """Boxes on their objects: returns how many boxes were checked individually.

    Each box of >= 64 px^2 and sides >= 8 px that does not touch the border (a box cut by the
    border may hold a thin corner of a rotated object only) is mostly covered by its colour, and
    its colour's pixels around it lie inside it. With ``complete``, every pixel of a colour lies
    in a box of that class (not so for polygons, which are dropped when their centre leaves
    the image).
    """
    checked = 0
    for cls, colour in colours.items():
        pixels = colour_mask(image, colour)
        own = boxes[classes == cls]
        if complete:
            outside = pixels & ~_box_mask(own, image.shape[:2], grow)
            assert not outside.any(), f"class {cls}: {outside.sum()} pixels of its colour outside its boxes"
        for one in own.data:
            box = Boxes(one[None], own.format)
            inside = _box_mask(box, image.shape[:2])
            x1, y1, x2, y2 = convert(box.data, box.format, BoxFormat.XYXY)[0]
            away = min(x1, y1) > 1 and x2 < image.shape[1] - 1 and y2 < image.shape[0] - 1
            if inside.sum() < 64 or min(x2 - x1, y2 - y1) < 8 or not away:
                continue
            covered = (pixels & inside).sum() / inside.sum()
            assert covered > 0.4, f"class {cls}: box {one.round(1)} covers its colour on {covered:.0%} only"
            around = _box_mask(box, image.shape[:2], 8) & ~_box_mask(box, image.shape[:2], grow)
            assert not (pixels & around).any(), f"class {cls}: its colour sticks out of box {one.round(1)}"
            checked += 1
    return checked


@pytest.mark.parametrize("rotated", [False, True])
def test_affine_keeps_boxes_on_objects(rotated: bool):
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(25):
        sample = rectangles(rng, *SIZE, count=5, rotated=rotated)
        matrix = affine_matrix(sample_affine(rng, CONFIG), SIZE)
        image = warp_image(sample.image, matrix, SIZE)
        boxes = clip_boxes(warp_boxes(sample.boxes, matrix), SIZE[1], SIZE[0])
        checked += assert_on_objects(image, boxes, sample.classes, dict(enumerate(COLOURS)))
    assert checked > 50


def test_rotated_polygons_follow_the_rotation_exactly():
    """A polygon through an affine map coincides with its rotated object (IoU), not just bounds it."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        sample = rectangles(rng, *SIZE, count=3, rotated=True)
        matrix = affine_matrix(sample_affine(rng, AugmentConfig(input_size=SIZE, degrees=45, shear=5, mosaic_scale=(0.8, 1.2))), SIZE)
        image = warp_image(sample.image, matrix, SIZE)
        boxes = warp_boxes(sample.boxes, matrix)
        for polygon, cls in zip(boxes.data, sample.classes):
            inside = (polygon >= 2).all() and (polygon[0::2] <= SIZE[1] - 2).all() and (polygon[1::2] <= SIZE[0] - 2).all()
            if not inside:
                continue
            drawn = _box_mask(Boxes(polygon[None], BoxFormat.QBOX), SIZE)
            pixels = colour_mask(image, COLOURS[cls], tolerance=60)
            iou = (drawn & pixels).sum() / (drawn | pixels).sum()
            assert iou > 0.9, iou


@pytest.mark.parametrize("rotated", [False, True])
def test_flip_is_exact_and_keeps_polygon_orientation(rotated: bool):
    rng = np.random.default_rng(2)
    sample = rectangles(rng, 200, 300, count=6, rotated=rotated)
    image = cv2.flip(sample.image, 1)
    boxes = flip_boxes(sample.boxes, sample.image.shape[1])
    assert_on_objects(image, boxes, sample.classes, dict(enumerate(COLOURS)), grow=1.0)
    if rotated:
        def signed_area(b: Boxes) -> np.ndarray:
            x, y = b.data[:, 0::2], b.data[:, 1::2]
            return (x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1)

        assert (np.sign(signed_area(boxes)) == np.sign(signed_area(sample.boxes))).all()
        np.testing.assert_allclose(boxes.data[:, 0], 300 - sample.boxes.data[:, 0])  # first vertex kept
    else:
        for box, cls in zip(boxes.data, sample.classes):
            ys, xs = np.nonzero(colour_mask(image, COLOURS[cls]))
            np.testing.assert_array_equal([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], box)


@pytest.mark.parametrize("rotated", [False, True])
def test_mixup_keeps_boxes_on_the_mixed_in_objects(rotated: bool):
    rng = np.random.default_rng(3)
    base_value = 60
    fmt = BoxFormat.QBOX if rotated else BoxFormat.XYXY
    checked = 0
    for _ in range(20):
        other = rectangles(rng, 192, 256, count=5, rotated=rotated)
        base = Sample(np.full((*SIZE, 3), base_value, np.uint8), Boxes(np.zeros((0, fmt.width)), fmt), np.zeros(0, np.int64))
        out = mixup(base, other, sample_mixup(rng, (0.5, 1.5), SIZE))
        blended = {i: tuple((base_value + np.array(c)) // 2) for i, c in enumerate(COLOURS)}
        checked += assert_on_objects(out.image, out.boxes, out.classes, blended)
    assert checked > 30


@pytest.mark.parametrize("rotated", [False, True])
def test_mosaic_pipeline_keeps_boxes_on_objects(rotated: bool):
    """Mosaic, affine, flip and letterbox together (no HSV, no mixup, so colours stay recognisable)."""
    rng = np.random.default_rng(4)
    source = MemorySource([rectangles(rng, int(rng.integers(120, 256)), int(rng.integers(120, 256)), 4, rotated) for _ in range(8)])
    pipeline = TrainPipeline(source, replace(CONFIG, enable_mixup=False, drop_cut_boxes=True))
    checked = 0
    for index in range(40):
        image, targets = pipeline(index % len(source), rng)
        rows = targets[targets.any(axis=1)]
        fmt = BoxFormat.QBOX if rotated else BoxFormat.CXCYWH
        boxes = Boxes(rows[:, 1:].astype(np.float64), fmt)
        checked += assert_on_objects(image, boxes, rows[:, 0].astype(np.int64), dict(enumerate(COLOURS)), 2.5, not rotated)
    assert checked > 40


def test_reference_keeps_boxes_the_canvas_cut_to_nothing():
    """The reference quirk kept by default: a box cut to zero width at the canvas edge survives the
    affine map as a thin box along the edge; ``drop_cut_boxes`` removes exactly those."""
    rng = np.random.default_rng(6)
    source = MemorySource([rectangles(rng, 256, 256, 6) for _ in range(4)])
    counts = {}
    for drop in (False, True):
        pipeline = TrainPipeline(source, replace(CONFIG, enable_mixup=False, drop_cut_boxes=drop))
        draws = np.random.default_rng(7)
        counts[drop] = sum(len(pipeline.mosaic(i % 4, draws)) for i in range(200))
    assert counts[False] > counts[True]


def test_no_mosaic_mode_is_the_letterboxed_image():
    """The last epochs' mode: one image, flipped or not, letterboxed top-left on 114, boxes exact."""
    rng = np.random.default_rng(5)
    sample = rectangles(rng, 128, 256, count=4)
    pipeline = TrainPipeline(MemorySource([sample]), CONFIG)
    image, targets = pipeline(0, rng, mosaic=False)
    assert (image[128:] == 114).all() and (image[:128] != 114).any()
    rows = targets[targets.any(axis=1)]
    assert len(rows) == len(sample)
    boxes = Boxes(rows[:, 1:].astype(np.float64), BoxFormat.CXCYWH)
    assert_on_objects(image, boxes, rows[:, 0].astype(np.int64), dict(enumerate(COLOURS)), grow=1.0)
    assert not colour_mask(image, (BACKGROUND,) * 3)[128:].any()
