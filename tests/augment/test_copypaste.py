"""Box-only copy-paste (augment/copypaste.py, issue 19 §1): pasted boxes lie inside the image on
objects of their class, respect the overlap limit, the draws are reproducible, class balance
favours rare classes, and with the probability at 0 the pipeline draws exactly as before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.augment.helpers import COLOURS, MemorySource, rectangles
from tests.augment.test_geometry import CONFIG
from yoloxkit.augment import AugmentConfig
from yoloxkit.augment.copypaste import ObjectBank, PastedSource, plan_pastes, soft_ellipse
from yoloxkit.augment.pipeline import TrainPipeline
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures.boxes import BoxFormat, Boxes


@pytest.fixture(scope="module")
def source() -> MemorySource:
    rng = np.random.default_rng(11)
    return MemorySource([rectangles(rng, int(rng.integers(150, 256)), int(rng.integers(150, 256)), 3) for _ in range(10)])


def test_planned_pastes_fit_the_image_keep_their_class_and_hide_little(source: MemorySource) -> None:
    bank = ObjectBank(source)
    rng = np.random.default_rng(0)
    planned = 0
    for index in range(len(source)):
        boxes, _ = source.objects(index)
        height, width = source.shape(index)
        pastes = plan_pastes(rng, bank, index, (height, width), boxes.data, 3, (0.75, 1.25), 0.3)
        planned += len(pastes)
        placed = [*boxes.data.tolist()]
        for paste in pastes:
            x1, y1, x2, y2 = paste.target_box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height and min(x2 - x1, y2 - y1) >= 4
            donor_boxes, donor_classes = source.objects(paste.donor)
            assert paste.donor != index
            assert paste.klass in donor_classes.tolist()
            for other in placed:  # at most 30 % of any earlier box hidden
                ox1, oy1, ox2, oy2 = other
                inter = max(0, min(x2, ox2) - max(x1, ox1)) * max(0, min(y2, oy2) - max(y1, oy1))
                assert inter <= 0.3 * (ox2 - ox1) * (oy2 - oy1) + 1e-6
            placed.append([x1, y1, x2, y2])
    assert planned >= 10


def test_pasted_pixels_are_the_donor_box_resized_and_the_objects_grow(source: MemorySource) -> None:
    bank = ObjectBank(source)
    pastes = plan_pastes(np.random.default_rng(3), bank, 0, source.shape(0), source.objects(0)[0].data, 3, (1.0, 1.0), 0.3)
    assert pastes
    pasted = PastedSource(source, {0: pastes})
    image = pasted.image(0)
    assert not np.array_equal(image, source.image(0)) and not np.shares_memory(image, source.image(0))
    for paste in pastes:  # scale 1: the donor's pixels, exactly
        x1, y1, x2, y2 = paste.source_box
        tx1, ty1, tx2, ty2 = paste.target_box
        np.testing.assert_array_equal(image[ty1:ty2, tx1:tx2], source.image(paste.donor)[y1:y2, x1:x2])
    boxes, classes = pasted.objects(0)
    assert len(classes) == len(source.objects(0)[1]) + len(pastes)
    assert classes[-len(pastes):].tolist() == [p.klass for p in pastes]
    ellipse = soft_ellipse(20, 30)
    assert ellipse[10, 15] == 1.0 and ellipse[0, 0] == 0.0


def test_pipeline_boxes_stay_on_objects_of_their_class_with_pastes(source: MemorySource) -> None:
    """Mosaic, affine, flip and letterbox after copy-paste into every tile (no HSV, no mixup): every
    box well inside the image is mostly covered by its class's colour, and pastes add objects."""
    config = replace(CONFIG, enable_mixup=False, drop_cut_boxes=True, copy_paste_prob=1.0, copy_paste_overlap=0.0)
    pasting, plain = TrainPipeline(source, config), TrainPipeline(source, replace(config, copy_paste_prob=0.0))
    checked = objects = plain_objects = 0
    for index in range(30):
        image, targets = pasting(index % len(source), np.random.default_rng(index))
        rows = targets[targets.any(axis=1)]
        xyxy = Boxes(rows[:, 1:].astype(np.float64), BoxFormat.CXCYWH).convert(BoxFormat.XYXY).data
        assert (xyxy >= -1e-3).all() and (xyxy[:, [0, 2]] <= image.shape[1] + 1e-3).all() and (xyxy[:, [1, 3]] <= image.shape[0] + 1e-3).all()
        for (x1, y1, x2, y2), cls in zip(xyxy, rows[:, 0].astype(int)):
            inner = image[int(np.ceil(y1)) + 2 : int(y2) - 2, int(np.ceil(x1)) + 2 : int(x2) - 2]
            away = min(x1, y1) > 1 and x2 < image.shape[1] - 1 and y2 < image.shape[0] - 1  # cut boxes may hold a corner only
            if min(inner.shape[:2], default=0) < 6 or not away:
                continue
            share = (np.abs(inner.astype(int) - COLOURS[cls]).max(axis=2) <= 40).mean()
            assert share > 0.5, (cls, (x1, y1, x2, y2), share)
            checked += 1
        objects += len(rows)
        _, plain_targets = plain(index % len(source), np.random.default_rng(index))
        plain_objects += int(plain_targets.any(axis=1).sum())
    assert checked > 30 and objects > plain_objects * 1.2


def test_draws_are_reproducible_and_off_means_the_reference_draws(source: MemorySource) -> None:
    config = replace(CONFIG, copy_paste_prob=0.7)
    first = TrainPipeline(source, config)(2, np.random.default_rng(9))
    again = TrainPipeline(source, config)(2, np.random.default_rng(9))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    off = TrainPipeline(source, replace(CONFIG, copy_paste_prob=0.0))(2, np.random.default_rng(9))
    reference = TrainPipeline(source, CONFIG)(2, np.random.default_rng(9))
    np.testing.assert_array_equal(off[0], reference[0])


def test_balance_one_pastes_a_rare_class_as_often_as_the_others() -> None:
    rng = np.random.default_rng(0)
    samples = [rectangles(rng, 200, 200, 3) for _ in range(40)]
    first = next(i for i, sample in enumerate(samples) if 7 in sample.classes.tolist())
    for sample in samples[first + 1 :]:  # class 7 (the last colour) in one image only
        keep = sample.classes != 7
        sample.boxes, sample.classes = Boxes(sample.boxes.data[keep], BoxFormat.XYXY), sample.classes[keep]
    source = MemorySource(samples)
    draws = np.random.default_rng(1)
    for balance, low, high in ((1.0, 0.08, 0.2), (0.0, 0.0, 0.04)):
        bank = ObjectBank(source, balance)
        share = np.mean([bank.classes[bank.draw(draws)] == 7 for _ in range(3000)])
        assert low <= share <= high, (balance, share)


@pytest.mark.parametrize("mosaic", [True, False])
def test_rotated_recipe_pastes_objects_through_their_polygons(mosaic: bool) -> None:
    """The rotated recipe (resize, rotate, crop, flips; no HSV, no mixup) after copy-paste: every
    polygon well inside the image is mostly covered by its class's colour, and pastes add objects."""
    import cv2

    rng = np.random.default_rng(6)
    source = MemorySource([rectangles(rng, 192, 192, 3, rotated=True) for _ in range(8)])
    base = replace(AugmentConfig.for_model("rotated-yolox-s"), input_size=(192, 192), hsv_prob=0.0, enable_mixup=False, resize_ratio=(0.5, 1.5))
    names = [f"class-{i}" for i in range(len(COLOURS))]
    pasting = TrainPipeline(source, replace(base, copy_paste_prob=1.0, copy_paste_overlap=0.0), class_names=names)
    plain = TrainPipeline(source, base, class_names=names)
    checked = objects = plain_objects = 0
    for index in range(24):
        image, targets = pasting(index % len(source), np.random.default_rng(index), mosaic=mosaic)
        rows = targets[targets.any(axis=1)]
        for quad, cls in zip(rows[:, 1:].reshape(-1, 4, 2), rows[:, 0].astype(int)):
            inside = np.zeros(image.shape[:2], np.uint8)
            cv2.fillPoly(inside, [np.round(quad).astype(np.int32)], 1)
            inside = cv2.erode(inside, np.ones((5, 5), np.uint8)).astype(bool)
            away = quad.min() > 2 and quad[:, 0].max() < image.shape[1] - 2 and quad[:, 1].max() < image.shape[0] - 2
            if inside.sum() < 40 or not away:
                continue
            share = (np.abs(image[inside].astype(int) - COLOURS[cls]).max(axis=1) <= 40).mean()
            assert share > 0.8, (cls, quad.round(1).tolist(), share)
            checked += 1
        objects += len(rows)
        plain_objects += int(plain(index % len(source), np.random.default_rng(index), mosaic=mosaic)[1].any(axis=1).sum())
    assert checked > 20 and objects > plain_objects * 1.2


def test_copy_paste_options_are_checked() -> None:
    with pytest.raises(YoloxkitError, match="copy_paste_prob must lie in"):
        AugmentConfig(copy_paste_prob=1.5)
    with pytest.raises(YoloxkitError, match="copy_paste_mask"):
        AugmentConfig(copy_paste_mask="circle")
