"""Class-imbalance samplers: LVIS repeat factors, determinism per (seed, epoch), class-aware draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yoloxkit import YoloxkitError
from yoloxkit.loader.records import TrainRecords
from yoloxkit.structures.boxes import BoxFormat
from yoloxkit.train.sampling import (
    ClassAwareSampler,
    RepeatFactorSampler,
    image_classes_of,
    make_sampler,
    repeat_factors,
)

# 100 images: class 0 common (90), class 1 rare (4), class 2 very rare (1, next to class 0), 6 empty.
IMAGE_CLASSES = [[0]] * 89 + [[1]] * 4 + [[0, 2, 0]] + [[]] * 6


def test_repeat_factors_follow_the_lvis_formula() -> None:
    factors = repeat_factors(IMAGE_CLASSES, threshold=0.1)
    assert factors.dtype == np.float64 and factors.shape == (100,)
    assert np.all(factors[:89] == 1.0)  # f_0 = 0.9 > t
    assert factors[89:93] == pytest.approx(math.sqrt(0.1 / 0.04))
    assert factors[93] == pytest.approx(math.sqrt(0.1 / 0.01))  # the rarest of its classes
    assert np.all(factors[94:] == 1.0)  # no objects
    assert np.all(repeat_factors(IMAGE_CLASSES, threshold=0.001) == 1.0)
    with pytest.raises(YoloxkitError, match="repeat_threshold"):
        repeat_factors(IMAGE_CLASSES, threshold=0)


def test_repeat_factor_sampler_is_deterministic_per_seed_and_epoch() -> None:
    factors = repeat_factors(IMAGE_CLASSES)
    a, b = RepeatFactorSampler(factors, seed=7), RepeatFactorSampler(factors, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    epoch3 = list(a)
    assert epoch3 == list(b) == list(a)
    a.set_epoch(4)
    assert list(a) != epoch3
    a.set_epoch(3)
    assert list(a) == epoch3
    other_seed = RepeatFactorSampler(factors, seed=8)
    other_seed.set_epoch(3)
    assert list(other_seed) != epoch3


def test_repeat_factor_sampler_repeats_images_as_their_factors_say() -> None:
    factors = repeat_factors(IMAGE_CLASSES)
    sampler = RepeatFactorSampler(factors, seed=0)
    total = np.zeros(len(factors))
    epochs = 400
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = list(sampler)
        assert len(order) == len(sampler) in (math.floor(factors.sum()), math.ceil(factors.sum()))
        counts = np.bincount(order, minlength=len(factors))
        assert np.all((counts == np.floor(factors)) | (counts == np.ceil(factors)))
        total += counts
    np.testing.assert_allclose(total / epochs, factors, atol=0.1)
    assert order != sorted(order)  # shuffled


def test_class_aware_sampler_draws_classes_uniformly() -> None:
    sampler = ClassAwareSampler(IMAGE_CLASSES, num_samples=3000, seed=1)
    sampler.set_epoch(2)
    order = list(sampler)
    assert len(order) == len(sampler) == 3000
    assert order == list(sampler)
    sampler.set_epoch(3)
    assert order != list(sampler)
    counts = np.bincount(order, minlength=100)
    assert counts[94:].sum() == 0  # images without objects are never drawn
    # P(image 93) = 1/3 (class 2) + 1/3 * 1/90 (class 0); class-1 images share 1/3.
    assert counts[93] / 3000 == pytest.approx(1 / 3 + 1 / 270, abs=0.03)
    assert counts[89:93].sum() / 3000 == pytest.approx(1 / 3, abs=0.03)
    with pytest.raises(YoloxkitError, match="none has any"):
        ClassAwareSampler([[], []], num_samples=2, seed=0)


def test_make_sampler_and_data_loader() -> None:
    assert make_sampler("uniform", IMAGE_CLASSES, seed=0) is None
    assert isinstance(make_sampler("repeat_factor", IMAGE_CLASSES, seed=0), RepeatFactorSampler)
    class_aware = make_sampler("class_aware", IMAGE_CLASSES, seed=0)
    assert isinstance(class_aware, ClassAwareSampler) and len(class_aware) == len(IMAGE_CLASSES)
    with pytest.raises(YoloxkitError, match="sampling must be one of"):
        make_sampler("balanced", IMAGE_CLASSES, seed=0)  # type: ignore[arg-type]
    sampler = make_sampler("repeat_factor", IMAGE_CLASSES, seed=0, threshold=0.2)
    loader = torch.utils.data.DataLoader(list(range(100)), batch_size=16, sampler=sampler)
    seen = torch.cat(list(loader)).tolist()
    assert seen == list(sampler) and len(loader) == math.ceil(len(sampler) / 16)


def test_image_classes_of_records() -> None:
    records = TrainRecords(
        paths=["a.jpg", "b.jpg", "c.jpg"],
        sizes=np.array([[10, 10]] * 3),
        boxes=np.zeros((4, 4)),
        classes=np.array([2, 0, 2, 1]),
        offsets=np.array([0, 3, 3, 4]),
        box_format=BoxFormat.XYXY,
        input_size=(64, 64),
        class_names=["x", "y", "z"],
    )
    assert image_classes_of(records) == [[0, 2], [], [1]]
