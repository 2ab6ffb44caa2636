"""Class-imbalance sampling: repeat-factor (LVIS) and class-aware samplers.

Both are deterministic per ``(seed, epoch)``: the order of an epoch depends only on them, so a
resumed run sees exactly the images it would have seen (call ``set_epoch`` before each epoch).
They draw for one process; a distributed trainer has to split an epoch's indices across ranks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch

from ..errors import YoloxkitError
from ..loader.records import TrainRecords

SamplingKind = Literal["uniform", "repeat_factor", "class_aware"]
SAMPLING_KINDS: tuple[str, ...] = ("uniform", "repeat_factor", "class_aware")


def image_classes_of(records: TrainRecords) -> list[list[int]]:
    """The sorted distinct class indices of the trainable objects of every image."""
    return [
        np.unique(records.classes[records.offsets[i] : records.offsets[i + 1]]).tolist() for i in range(len(records))
    ]


def repeat_factors(image_classes: Sequence[Sequence[int]], threshold: float = 0.1) -> np.ndarray:
    """Per-image repeat factors of LVIS (Gupta et al. 2019), float64 ``[N]``.

    ``f_c`` = share of images holding class ``c``; ``r_c = max(1, sqrt(threshold / f_c))``; an
    image's factor is the largest ``r_c`` of its classes (1 for an image without objects).
    """
    if threshold <= 0:
        raise YoloxkitError(f"repeat_threshold must be > 0, got {threshold}")
    count = len(image_classes)
    if count == 0:
        raise YoloxkitError("repeat-factor sampling needs at least one image")
    images_with: dict[int, int] = {}
    for classes in image_classes:
        for c in set(classes):
            images_with[c] = images_with.get(c, 0) + 1
    class_factor = {c: max(1.0, float(np.sqrt(threshold / (n / count)))) for c, n in images_with.items()}
    return np.array([max((class_factor[c] for c in classes), default=1.0) for classes in image_classes])


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


class RepeatFactorSampler(torch.utils.data.Sampler[int]):
    """Each epoch, image ``i`` appears ``floor(r_i)`` or ``ceil(r_i)`` times, ``r_i`` on average.

    The fractional parts are rounded by systematic sampling (one uniform offset over a random
    order of the images), so the epoch length is always ``floor`` or ``ceil`` of ``sum(r)``;
    the resulting indices are shuffled. Both draws are seeded by ``(seed, epoch)``.
    """

    def __init__(self, factors: np.ndarray, seed: int) -> None:
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim != 1 or len(factors) == 0 or not np.all(factors >= 1):
            raise YoloxkitError("repeat factors must be a non-empty 1-D array of values >= 1")
        self.factors = factors
        self.seed = int(seed)
        self.epoch = 0
        self._indices = self._draw()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields."""
        self.epoch = int(epoch)
        self._indices = self._draw()

    def _draw(self) -> np.ndarray:
        rng = _rng(self.seed, self.epoch)
        whole = np.floor(self.factors)
        order = rng.permutation(len(self.factors))
        edges = np.concatenate([[0.0], np.cumsum((self.factors - whole)[order])])
        offset = rng.random()
        # Item k of the order takes an extra copy when an integer + offset falls in its interval.
        extra = np.zeros(len(self.factors))
        extra[order] = np.floor(edges[1:] - offset) - np.floor(edges[:-1] - offset)
        indices = np.repeat(np.arange(len(self.factors)), (whole + extra).astype(np.int64))
        return indices[rng.permutation(len(indices))]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices.tolist())

    def __len__(self) -> int:
        return len(self._indices)


class ClassAwareSampler(torch.utils.data.Sampler[int]):
    """``num_samples`` draws per epoch: a class uniformly, then uniformly an image holding it.

    Only classes with at least one image are drawn; images without objects are never drawn.
    """

    def __init__(self, image_classes: Sequence[Sequence[int]], num_samples: int, seed: int) -> None:
        holders: dict[int, list[int]] = {}
        for image, classes in enumerate(image_classes):
            for c in sorted(set(classes)):
                holders.setdefault(c, []).append(image)
        if not holders:
            raise YoloxkitError("class-aware sampling needs images with objects; none has any")
        if num_samples < 1:
            raise YoloxkitError(f"class-aware sampling: num_samples must be >= 1, got {num_samples}")
        per_class = [holders[c] for c in sorted(holders)]
        self._counts = np.array([len(images) for images in per_class])
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]])
        self._images = np.concatenate([np.array(images) for images in per_class])
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order ``__iter__`` yields."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        rng = _rng(self.seed, self.epoch)
        chosen = rng.integers(len(self._counts), size=self.num_samples)
        within = np.floor(rng.random(self.num_samples) * self._counts[chosen]).astype(np.int64)
        return iter(self._images[self._starts[chosen] + within].tolist())

    def __len__(self) -> int:
        return self.num_samples


def make_sampler(
    kind: SamplingKind, image_classes: Sequence[Sequence[int]], seed: int, threshold: float = 0.1
) -> torch.utils.data.Sampler[int] | None:
    """The sampler for ``kind``; ``None`` for ``"uniform"`` (the loader's own shuffling).

    Class-aware sampling draws as many images per epoch as the split has.
    """
    if kind == "uniform":
        return None
    if kind == "repeat_factor":
        return RepeatFactorSampler(repeat_factors(image_classes, threshold), seed)
    if kind == "class_aware":
        return ClassAwareSampler(image_classes, len(image_classes), seed)
    raise YoloxkitError(f"sampling must be one of {', '.join(SAMPLING_KINDS)}, got {kind!r}")
