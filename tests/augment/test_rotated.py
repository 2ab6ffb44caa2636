"""The rotated recipe (ai4rs rotated_yolox_s_300e_dota_le90): rotation, flips, resize + crop, stages, targets.

Polygons go through every new transform: exact corner moves for 90-degree turns, objects whose
centre leaves the image dropped, flips that are involutions composing to the diagonal flip,
90-degree multiples only for the protected classes, boxes that stay on their objects through the
whole pipeline, and the no-aug stage without mosaic and mixup.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import yoloxkit.augment.rotated as rotated_module
from yoloxkit.augment import AugmentConfig, Sample, TrainPipeline
from yoloxkit.augment.affine import warp_image
from yoloxkit.augment.flip import choose_flip, flip_sample
from yoloxkit.augment.geometry import warp_boxes
from yoloxkit.augment.rotate import RIGHT_ANGLES, rect_class_indices, rotation_matrix, sample_rotation
from yoloxkit.augment.view import compose, pixel_matrix, resized_shape
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures.boxes import BoxFormat, Boxes, convert

from .helpers import COLOURS, MemorySource, rectangles
from .test_geometry import assert_on_objects

SIZE = (192, 192)
#: The recipe at a small input size, HSV off so that colours stay recognisable.
CONFIG = replace(AugmentConfig.for_model("rotated-yolox-s"), input_size=SIZE, hsv_prob=0.0)
NAMES = [f"class-{i}" for i in range(len(COLOURS))]


def _square(cx: float, cy: float, side: float) -> Boxes:
    h = side / 2
    return Boxes(np.array([[cx - h, cy - h, cx + h, cy - h, cx + h, cy + h, cx - h, cy + h]]), BoxFormat.QBOX)


def _rows(targets: np.ndarray) -> tuple[Boxes, np.ndarray]:
    rows = targets[targets.any(axis=1)]
    return Boxes(rows[:, 1:].astype(np.float64), BoxFormat.QBOX), rows[:, 0].astype(np.int64)


def test_for_model_gives_the_rotated_recipe_and_leaves_yolox_alone():
    cfg = AugmentConfig.for_model("rotated-yolox-s")
    assert cfg.recipe == "rotated_yolox" and cfg.input_size == (1024, 1024)
    assert (cfg.flip_prob, cfg.vertical_flip_prob, cfg.diagonal_flip_prob) == (0.25, 0.25, 0.25)
    assert (cfg.resize_ratio, cfg.rotate_prob, cfg.rotate_range, cfg.rotate_border_value) == ((0.1, 2.0), 0.5, 180.0, 0)
    assert cfg.rect_obj_classes == ("storage-tank", "roundabout") and cfg.mixup_scale == (1.0, 1.0)
    assert cfg.no_aug_start_epoch(300) == 285  # PipelineSwitchHook(switch_epoch=285)
    plain = AugmentConfig.for_model("yolox-s")
    assert plain.recipe == "yolox" and plain.flip_prob == 0.5 and plain.vertical_flip_prob == 0.0
    assert plain.no_aug_start_epoch(300) == 284
    with pytest.raises(YoloxkitError, match="flip"):
        AugmentConfig(flip_prob=0.5, vertical_flip_prob=0.4, diagonal_flip_prob=0.2)
    with pytest.raises(YoloxkitError, match="recipe"):
        AugmentConfig(recipe="mmrotate")  # type: ignore[arg-type]


def test_rotation_by_90_moves_a_square_exactly_and_keeps_its_area():
    boxes = _square(60, 40, 20)
    turned = warp_boxes(boxes, rotation_matrix(90, 200, 100))  # clockwise on screen about (100, 50)
    # (x, y) -> (cx - (y - cy), cy + (x - cx)): the corner (50, 30) goes to (120, 0), and so on.
    np.testing.assert_allclose(turned.data, [[120, 0, 120, 20, 100, 20, 100, 0]], atol=1e-9)
    np.testing.assert_allclose(turned.area(), boxes.area())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_image_and_boxes_turn_together(k: int):
    """A right-angle turn of the image by the pixel matrix is np.rot90 exactly, and its polygons stay on their objects."""
    rng = np.random.default_rng(k)
    sample = rectangles(rng, 160, 160, count=4, rotated=True)
    matrix = rotation_matrix(90 * k, 160, 160)
    image = warp_image(sample.image, pixel_matrix(matrix), (160, 160), (0, 0), 0)
    np.testing.assert_array_equal(image, np.rot90(sample.image, -k))
    assert_on_objects(image, warp_boxes(sample.boxes, matrix), sample.classes, dict(enumerate(COLOURS)), grow=1.0)


def test_resize_rotate_crop_compose_into_one_map():
    shape, resized, crop = (100, 200), resized_shape((100, 200), (300, 300)), (30, 10, 120, 120)
    assert resized == (150, 300)  # mmcv imrescale: factor min(300 / 200, 300 / 100)
    matrix = compose(resized, shape, 90.0, crop)
    point = np.array([40.0, 20.0])
    scaled = point * 1.5
    turned = rotation_matrix(90, 300, 150)[:, :2] @ scaled + rotation_matrix(90, 300, 150)[:, 2]
    np.testing.assert_allclose(matrix[:, :2] @ point + matrix[:, 2], turned - [30, 10])


def test_rect_classes_turn_by_right_angles_only():
    rng = np.random.default_rng(0)
    protected = rect_class_indices(["class-2", "unknown"], NAMES)
    assert protected.tolist() == [2]
    with_rect = [sample_rotation(rng, 0.5, 180.0, np.array([0, 2]), protected) for _ in range(400)]
    assert set(with_rect) <= {0.0, *RIGHT_ANGLES} and len(set(with_rect)) == 5
    free = np.array([sample_rotation(rng, 0.5, 180.0, np.array([0, 1]), protected) for _ in range(2000)])
    turned = free[free != 0]
    assert 0.45 < len(turned) / len(free) < 0.55 and -180 <= turned.min() < -170 and 170 < turned.max() < 180
    assert np.mean(np.isin(turned, RIGHT_ANGLES)) == 0


def test_protected_objects_stay_axis_aligned_through_the_pipeline():
    """Mosaic -> resize -> rotate -> crop -> flip -> mixup: axis-aligned objects of a rect class stay axis-aligned."""
    rng = np.random.default_rng(1)
    source = MemorySource([rectangles(rng, 192, 192, 4, rotated=False) for _ in range(6)])
    for sample in source.samples:  # the same axis-aligned rectangles as polygons
        sample.boxes = Boxes(convert(sample.boxes.data, BoxFormat.XYXY, BoxFormat.QBOX), BoxFormat.QBOX)
    tilted = {}
    for protect in (True, False):
        cfg = replace(CONFIG, rect_obj_classes=tuple(NAMES) if protect else ())
        pipeline = TrainPipeline(source, cfg, class_names=NAMES)
        angles = []
        for i in range(30):
            _, targets = pipeline(i % len(source), rng)
            angles.append(convert(_rows(targets)[0].data, BoxFormat.QBOX, BoxFormat.RBOX)[:, 4])
        angles = np.abs(np.concatenate(angles))
        tilted[protect] = np.mean(np.minimum(angles, np.abs(angles - np.pi / 2)) > 1e-3)
    assert tilted[True] == 0 and tilted[False] > 0.3


def test_objects_whose_centre_turns_out_of_the_image_are_dropped():
    """A 256 x 128 image turned by 90 degrees: an object near the left edge leaves, the central one stays."""
    image = np.full((128, 256, 3), 30, np.uint8)
    boxes = Boxes(np.concatenate([_square(20, 64, 12).data, [[108, 59, 148, 59, 148, 69, 108, 69]]]), BoxFormat.QBOX)
    source = MemorySource([Sample(image, boxes, np.array([0, 1]))])
    cfg = replace(CONFIG, input_size=(256, 256), resize_ratio=(1.0, 1.0), rotate_prob=1.0, rect_obj_classes=("class-0",),
                  flip_prob=0.0, vertical_flip_prob=0.0, diagonal_flip_prob=0.0)  # fmt: skip
    pipeline = TrainPipeline(source, cfg, class_names=NAMES)
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(40):
        _, targets = pipeline(0, rng, mosaic=False)
        out, classes = _rows(targets)
        rbox = convert(out.data, BoxFormat.QBOX, BoxFormat.RBOX)
        central = rbox[classes == 1][0]
        upright = abs(abs(central[4]) - np.pi / 2) < 1e-6  # the long side turned vertical: +-90 degrees
        assert len(out) == (1 if upright else 2)
        seen.add(upright)
    assert seen == {True, False}


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flips_are_involutions_and_keep_polygons_on_objects(direction: str):
    rng = np.random.default_rng(3)
    sample = rectangles(rng, 120, 200, count=5, rotated=True)
    once = flip_sample(sample, direction)
    assert_on_objects(once.image, once.boxes, once.classes, dict(enumerate(COLOURS)))
    twice = flip_sample(once, direction)
    np.testing.assert_array_equal(twice.image, sample.image)
    np.testing.assert_allclose(twice.boxes.data, sample.boxes.data)


def test_vertical_after_horizontal_is_the_diagonal_flip():
    rng = np.random.default_rng(4)
    sample = rectangles(rng, 120, 200, count=5, rotated=True)
    both = flip_sample(flip_sample(sample, "horizontal"), "vertical")
    diagonal = flip_sample(sample, "diagonal")
    np.testing.assert_array_equal(both.image, diagonal.image)
    np.testing.assert_allclose(both.boxes.data, diagonal.boxes.data)  # vertex order included


def test_flip_directions_have_the_recipe_probabilities():
    rng = np.random.default_rng(5)
    draws = [choose_flip(rng, CONFIG) for _ in range(8000)]
    for direction in ("horizontal", "vertical", "diagonal", None):
        assert abs(draws.count(direction) / len(draws) - 0.25) < 0.02, direction


@pytest.mark.parametrize("mosaic", [True, False])
def test_pipeline_keeps_polygons_on_their_objects(mosaic: bool):
    """The whole recipe without HSV and mixup (colours stay recognisable): polygons coincide with their objects."""
    rng = np.random.default_rng(6)
    source = MemorySource([rectangles(rng, 192, 192, 4, rotated=True) for _ in range(6)])
    pipeline = TrainPipeline(source, replace(CONFIG, enable_mixup=False, resize_ratio=(0.5, 1.5)), class_names=NAMES)
    checked = 0
    for i in range(30):
        image, targets = pipeline(i % len(source), rng, mosaic=mosaic)
        boxes, classes = _rows(targets)
        assert len(boxes), "a crop without objects is redrawn"
        checked += assert_on_objects(image, boxes, classes, dict(enumerate(COLOURS)), 2.5, complete=False)
    assert checked > 20


def test_no_aug_stage_keeps_rotate_flip_crop_but_no_mosaic_or_mixup(monkeypatch: pytest.MonkeyPatch):
    calls: dict[str, int] = {}

    def spy(name: str, function):
        def wrapped(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return function(*args, **kwargs)

        monkeypatch.setattr(rotated_module, name, wrapped)

    for name in ("draw_view", "flip_sample", "hsv_jitter", "layout_mosaic", "mixup"):
        spy(name, getattr(rotated_module, name))
    rng = np.random.default_rng(7)
    source = MemorySource([rectangles(rng, 192, 192, 4, rotated=True) for _ in range(4)])
    pipeline = TrainPipeline(source, replace(CONFIG, hsv_prob=1.0), class_names=NAMES)
    for i in range(12):
        pipeline(i % 4, rng, mosaic=False)
    assert calls.get("layout_mosaic", 0) == 0 and calls.get("mixup", 0) == 0
    assert calls["draw_view"] >= 12 and calls["flip_sample"] == 12 and calls.get("hsv_jitter", 0) > 0
    calls.clear()
    for i in range(4):
        pipeline(i, rng, mosaic=True)
    assert calls["layout_mosaic"] >= 8 and calls["mixup"] == 4  # each sample and its mixup partner


def test_synthetic_qbox_dataset_through_the_loader(tmp_path: Path):
    """``data synth --rotated`` data through the loader with the rotated recipe: padded qbox targets on every image."""
    from yoloxkit.datasets.synth import synthesize
    from yoloxkit.loader import LoaderConfig, make_train_loader

    dataset = synthesize(tmp_path, 10, 3, rotated=True, size=(128, 128), val_fraction=0.0)
    cfg = AugmentConfig.for_model("rotated-yolox-nano", input_size=(128, 128), max_labels=50)
    loader = make_train_loader(dataset, "train", cfg, LoaderConfig(batch_size=4, num_workers=0, seed=0))
    for closed in (False, True):
        if closed:
            loader.close_mosaic()
        batch = next(iter(loader))
        assert tuple(batch.images.shape) == (4, 128, 128, 3) and tuple(batch.targets.shape) == (4, 50, 9)
        for targets in batch.targets.numpy():
            boxes, classes = _rows(targets)
            assert len(boxes) and set(classes.tolist()) <= {0, 1, 2}
            centre = convert(boxes.data, BoxFormat.QBOX, BoxFormat.RBOX)[:, :2]
            assert ((centre > 0) & (centre < 128)).all()



def test_rbox_targets_are_built_in_the_workers_from_the_same_polygons(tmp_path: Path):
    """``rbox_targets``: the workers send (class, cx, cy, w, h, angle) rows, equal to the polygon rows
    of the same seeded batch fitted afterwards, with padding rows left zero."""
    from yoloxkit.datasets.synth import synthesize
    from yoloxkit.loader import LoaderConfig, make_train_loader

    dataset = synthesize(tmp_path, 8, 3, rotated=True, size=(128, 128), val_fraction=0.0)
    cfg = AugmentConfig.for_model("rotated-yolox-nano", input_size=(128, 128), max_labels=50)
    polygons, rboxes = (
        next(iter(make_train_loader(dataset, "train", cfg, LoaderConfig(batch_size=4, num_workers=workers, seed=3, rbox_targets=rbox))))
        for workers, rbox in ((0, False), (1, True))
    )  # fmt: skip
    assert tuple(rboxes.targets.shape) == (4, 50, 6)
    real = polygons.targets.abs().sum(2) > 0
    assert real.any() and not real.all() and (rboxes.targets[~real] == 0).all()
    expected = convert(polygons.targets[real][:, 1:].numpy(), BoxFormat.QBOX, BoxFormat.RBOX)
    np.testing.assert_array_equal(rboxes.targets[real][:, 0].numpy(), polygons.targets[real][:, 0].numpy())
    np.testing.assert_allclose(rboxes.targets[real][:, 1:].numpy(), expected, rtol=0, atol=1e-4)

def test_the_rotated_recipe_refuses_axis_aligned_boxes():
    rng = np.random.default_rng(8)
    source = MemorySource([rectangles(rng, 128, 128, 3, rotated=False)])
    with pytest.raises(YoloxkitError, match="qbox"):
        TrainPipeline(source, CONFIG)
