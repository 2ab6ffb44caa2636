"""torch Datasets: augmented training samples, and letterboxed validation images.

A training item is ``(image, targets, info)``: BGR uint8 HxWx3, ``[max_labels, 1 + D]`` float32
label rows and a :class:`SampleInfo`. The key is an index, or ``(mosaic, index, entropy)`` from the
batch sampler: the mosaic switch is how the no-augmentation epochs reach persistent workers, and
``entropy`` (seed, epoch, position in the epoch) seeds the sample's own random stream, so a
seeded epoch draws the same augmentations whatever the number of workers or processes, and a
resumed run repeats the epochs it replays. An unreadable image
never raises inside a worker: with ``skip_bad_images`` the sample is rebuilt from another random
image and the file is listed in ``info.bad``; without it the item carries ``info.error`` and the
loader stops with that message in the main process.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..augment.config import AugmentConfig
from ..augment.pipeline import TrainPipeline
from ..augment.targets import empty_targets, pad_targets, rbox_rows
from ..data.images import read_image
from ..data.preprocess import letterbox
from ..errors import YoloxkitError
from ..structures.boxes import BoxFormat, Boxes
from .cache import DecodeStore
from .decode import BadImageError
from .records import TrainRecords

#: Unreadable images in a row after which a sample gives up (the dataset is mostly unreadable).
MAX_ATTEMPTS = 32


class SampleInfo(NamedTuple):
    """Which image a sample started from, unreadable files met while building it, or the error that stops training."""

    index: int
    bad: tuple[tuple[str, str], ...] = ()
    error: str | None = None


class TrainSource:
    """The :class:`~yoloxkit.augment.SampleSource` of a split: records plus an image store."""

    def __init__(self, records: TrainRecords, store: DecodeStore) -> None:
        self.records = records
        self.store = store

    def __len__(self) -> int:
        return len(self.records)

    @property
    def class_names(self) -> list[str]:
        """Class names in class-index order (resolves the rotated recipe's ``rect_obj_classes``)."""
        return self.records.class_names

    def shape(self, index: int) -> tuple[int, int]:
        """(height, width) of fitted image ``index``, from its annotated size."""
        return self.records.fitted_shape(index)

    def objects(self, index: int) -> tuple[Boxes, np.ndarray]:
        """Fitted boxes (a copy) and class indices of image ``index``."""
        return self.records.objects(index)

    def image(self, index: int) -> np.ndarray:
        """Fitted image ``index`` (BadImageError when unreadable)."""
        return self.store.get(index)

    def has_objects(self, index: int) -> bool:
        """True when image ``index`` has objects."""
        return self.records.has_objects(index)


def _owned(image: np.ndarray) -> np.ndarray:
    """``image`` itself when it is a writable contiguous array, else a copy (cache views are read-only)."""
    return image if image.flags.writeable and image.flags.c_contiguous else np.array(image)


class TrainDataset(torch.utils.data.Dataset):
    """Augmented training samples, each drawn from the stream its key's entropy seeds.

    A bare index (no entropy) draws from the dataset's own generator (see :meth:`reseed`). With
    ``rbox_targets``, polygon label rows are turned into rbox rows here, in the worker processes,
    rather than by the training step.
    """

    def __init__(
        self, source: TrainSource, config: AugmentConfig, skip_bad_images: bool = False, seed: int | None = None,
        rbox_targets: bool = False,
    ) -> None:  # fmt: skip
        self.pipeline = TrainPipeline(source, config)
        self.skip_bad_images = skip_bad_images
        self.rng = np.random.default_rng(seed)
        self.rbox_targets = rbox_targets and source.records.box_format == BoxFormat.QBOX

    def __len__(self) -> int:
        return len(self.pipeline.source)

    def reseed(self, seed: int) -> None:
        """Start a new random stream (called once per worker process with a distinct seed)."""
        self.rng = np.random.default_rng(seed)

    def __getitem__(self, key: int | tuple[bool, int, tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray, SampleInfo]:
        if isinstance(key, tuple):
            mosaic, index, entropy = key
            rng = np.random.default_rng(entropy)
        else:
            mosaic, index, rng = True, key, self.rng
        first, bad = int(index), []
        for _ in range(MAX_ATTEMPTS):
            try:
                image, targets = self.pipeline(int(index), rng, mosaic)
                return _owned(image), rbox_rows(targets) if self.rbox_targets else targets, SampleInfo(first, tuple(bad))
            except BadImageError as exc:
                if not self.skip_bad_images:
                    return self._failure(first, str(exc))
                bad.append((exc.path, exc.reason))
                index = rng.integers(0, len(self))
        message = f"{MAX_ATTEMPTS} unreadable images in a row while building one sample; the last: {bad[-1][0]}"
        return self._failure(first, message, tuple(bad))

    def _failure(self, index: int, message: str, bad: tuple = ()) -> tuple[np.ndarray, np.ndarray, SampleInfo]:
        """A placeholder item that carries the error to the main process."""
        cfg = self.pipeline.config
        image = np.zeros((*cfg.input_size, 3), dtype=np.uint8)
        targets = empty_targets(self.pipeline.source.records.box_format, cfg.max_labels)
        return image, rbox_rows(targets) if self.rbox_targets else targets, SampleInfo(index, bad, message)


class ValDataset(torch.utils.data.Dataset):
    """Validation images letterboxed by the preprocessing contract (exactly what prediction feeds the model).

    Items: ``(image uint8 HxWx3, targets, (index, r))`` where ``r`` maps original pixels to input
    pixels. The original file is decoded with :func:`yoloxkit.data.images.read_image`; a problem
    raises a YoloxkitError naming the file.
    """

    def __init__(self, records: TrainRecords, pad_value: int = 114, max_labels: int = 120) -> None:
        self.records = records
        self.pad_value = pad_value
        self.max_labels = max_labels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, tuple[int, float]]:
        image = read_image(self.records.paths[index])
        height, width = (int(v) for v in self.records.sizes[index])
        if image.shape[:2] != (height, width):
            raise YoloxkitError(f"{self.records.paths[index]}: the file is {image.shape[1]}x{image.shape[0]}, "
                                f"but the annotation says {width}x{height}")  # fmt: skip
        canvas, r = letterbox(image, self.records.input_size, self.pad_value)
        boxes, classes = self.records.objects(index)  # fitted already: the fit ratio is the letterbox's r
        return canvas, pad_targets(boxes, classes, self.max_labels), (index, r)
