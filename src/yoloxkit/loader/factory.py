"""DataLoader factories: worker processes, persistent workers, pinned memory on CUDA, per-worker seeds.

Batches hold uint8 NHWC images; :func:`images_to_device` makes the float NCHW network input on
the device, so a quarter of the reference's float32 bytes cross to the GPU. The mosaic switch for
the last epochs travels with every index (``(mosaic, index, entropy)`` keys from the batch
sampler), so it reaches persistent workers, as in the reference.

Epochs are reproducible: :meth:`TrainLoader.set_epoch` seeds the order from ``(seed, epoch)``
and every sample's augmentation from ``(seed, epoch, position)``. With ``world_size`` processes
each one loads its contiguous share of every global batch, so the processes together see
exactly the batches a single process would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler, get_worker_info
from torch.utils.data._utils.collate import default_collate

from ..augment.config import AugmentConfig
from ..datasets.model import Dataset
from ..errors import YoloxkitError
from .badimages import BadImageLog, logger
from .cache import CacheMode, build_store
from .dataset import SampleInfo, TrainDataset, TrainSource, ValDataset
from .records import TrainRecords


@dataclass(frozen=True)
class LoaderConfig:
    """How batches are produced (the augmentation itself is an :class:`AugmentConfig`)."""

    batch_size: int = 8
    num_workers: int = 4  # the reference's default per GPU
    cache: CacheMode = "none"
    cache_dir: Path | None = None  # disk cache folder (default ~/.cache/yoloxkit/images)
    skip_bad_images: bool = False  # False: an unreadable image stops training with its name
    seed: int | None = None  # None: a fresh random stream each run
    shuffle: bool = True
    drop_last: bool = False
    pin_memory: bool | None = None  # None: pinned when CUDA is available
    persistent_workers: bool = True
    prefetch_factor: int = 2
    reduced_decode: bool = True  # decode very large JPEGs at 1/2, 1/4 or 1/8 scale (see loader.decode)
    rank: int = 0  # this process's share of every global batch of batch_size images ...
    world_size: int = 1  # ... when training on several processes
    rbox_targets: bool = False  # polygon labels as (class, cx, cy, w, h, angle) rows, built in the workers

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_workers < 0 or self.prefetch_factor < 1:
            raise YoloxkitError("batch_size and prefetch_factor must be >= 1 and num_workers >= 0")
        if not 0 <= self.rank < self.world_size or self.batch_size % self.world_size:
            raise YoloxkitError(f"batch_size {self.batch_size} must split evenly over {self.world_size} processes")


class TrainBatch(NamedTuple):
    """uint8 ``[B, H, W, 3]`` BGR images, float32 ``[B, max_labels, 1 + D]`` targets, the images' indices."""

    images: torch.Tensor
    targets: torch.Tensor
    indices: list[int]


class ModeBatchSampler(BatchSampler):
    """Batches of ``(mosaic, index, (seed, epoch, position))`` keys for this process.

    :attr:`mosaic` is switched off for the last epochs; :meth:`set_epoch` reseeds the order.
    ``batch_size`` is the global batch; process ``rank`` of ``world_size`` gets its contiguous slice.
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.mosaic = True
        self.seed = seed
        self.epoch = 0
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        """Seed the order of ``epoch`` from ``(seed, epoch)`` (and the samples from their positions)."""
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        elif isinstance(self.sampler, RandomSampler):
            self.sampler.generator.manual_seed(epoch_seed(self.seed, epoch))

    def __iter__(self) -> Iterator[list[tuple[bool, int, tuple[int, int, int]]]]:
        position = 0
        for batch in super().__iter__():
            share = -(-len(batch) // self.world_size)
            start = self.rank * share
            keys = [(self.mosaic, index, (self.seed, self.epoch, position + start + i))
                    for i, index in enumerate(batch[start : start + share])]  # fmt: skip
            position += len(batch)
            if keys:
                yield keys


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for ``epoch`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)


def seed_worker(worker_id: int) -> None:
    """Worker start: single-threaded OpenCV, and a NumPy stream seeded from torch's per-worker seed.

    torch gives worker ``k`` the seed ``base + k`` where ``base`` comes from the loader's generator
    (seeded by :attr:`LoaderConfig.seed`), so workers differ and a seeded run repeats.
    """
    cv2.setNumThreads(0)
    info = get_worker_info()
    info.dataset.reseed(info.seed)


def collate(items: list[tuple]) -> tuple[torch.Tensor, torch.Tensor, list[SampleInfo]]:
    """Stack images and targets (into shared memory inside workers); keep the infos as a list."""
    images, targets, infos = zip(*items)
    return default_collate(list(images)), default_collate(list(targets)), list(infos)


class TrainLoader:
    """Iterates :class:`TrainBatch` es; stops with the file name on an unreadable image unless skipping.

    ``bad_images`` collects what was skipped; its summary is logged at the end of every pass
    that met new unreadable files, and a trainer prints it at the end of training.
    """

    def __init__(self, loader: DataLoader, sampler: ModeBatchSampler, records: TrainRecords, bad_images: BadImageLog) -> None:
        self.loader = loader
        self.sampler = sampler
        self.records = records
        self.bad_images = bad_images

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[TrainBatch]:
        for images, targets, infos in self.loader:
            for info in infos:
                if info.error is not None:
                    raise YoloxkitError(info.error)
                for path, reason in info.bad:
                    self.bad_images.add(path, reason)
                self.bad_images.replaced += len(info.bad)
            yield TrainBatch(images, targets, [info.index for info in infos])
        self.bad_images.report()

    @property
    def mosaic(self) -> bool:
        """Whether new batches use mosaic (and so affine and mixup)."""
        return self.sampler.mosaic

    def close_mosaic(self) -> None:
        """The no-augmentation mode of the last epochs: only HSV, flip and letterbox from now on."""
        self.sampler.mosaic = False

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` of the seeded sequence (call before iterating)."""
        self.sampler.set_epoch(epoch)


def _loader_kwargs(config: LoaderConfig) -> dict:
    pin = torch.cuda.is_available() if config.pin_memory is None else config.pin_memory
    kwargs: dict = {"num_workers": config.num_workers, "pin_memory": pin}
    if config.num_workers > 0:
        kwargs.update(persistent_workers=config.persistent_workers, prefetch_factor=config.prefetch_factor)
        if sys.platform == "linux":
            kwargs["multiprocessing_context"] = "fork"  # workers share the RAM cache instead of copying it
    return kwargs


def make_train_loader(
    dataset: Dataset,
    split: str,
    augment: AugmentConfig,
    config: LoaderConfig = LoaderConfig(),
    sampler_factory: Callable[[TrainRecords], Sampler | None] | None = None,
) -> TrainLoader:
    """The training loader of ``dataset.splits[split]``: records, image store (cache), augmentation, workers.

    ``sampler_factory(records)`` may replace the uniform shuffle (e.g. with a class-balancing
    sampler that has ``set_epoch``); returning None keeps the shuffle.
    """
    records = TrainRecords.from_split(dataset, split, augment.input_size)
    if sum(records.dropped.values()):
        left_out = ", ".join(f"{n} {reason}" for reason, n in records.dropped.items() if n)
        logger.warning("split %s: objects left out of training: %s", split, left_out)
    bad_images = BadImageLog()
    store = build_store(records, config.cache, bad_images, config.skip_bad_images, config.cache_dir, config.reduced_decode)
    train_set = TrainDataset(TrainSource(records, store), augment, config.skip_bad_images, config.seed, config.rbox_targets)
    seed = config.seed if config.seed is not None else int(torch.randint(0, 2**62, ()).item())
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(seed, 0))
    sampler = sampler_factory(records) if sampler_factory is not None else None
    if sampler is None:
        sampler = RandomSampler(train_set, generator=generator) if config.shuffle else SequentialSampler(train_set)
    batch_sampler = ModeBatchSampler(sampler, config.batch_size, config.drop_last, seed, config.rank, config.world_size)
    loader = DataLoader(train_set, batch_sampler=batch_sampler, collate_fn=collate, worker_init_fn=seed_worker,
                        generator=generator, **_loader_kwargs(config))  # fmt: skip
    return TrainLoader(loader, batch_sampler, records, bad_images)


def make_val_loader(dataset: Dataset, split: str, input_size: tuple[int, int], config: LoaderConfig = LoaderConfig()) -> DataLoader:
    """Validation batches in order: letterboxed uint8 images, targets and ``(index, r)`` per image."""
    records = TrainRecords.from_split(dataset, split, input_size)
    val_set = ValDataset(records)
    return DataLoader(val_set, batch_size=config.batch_size, shuffle=False, collate_fn=collate, **_loader_kwargs(config))


def images_to_device(images: torch.Tensor, device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> contiguous ``[B, 3, H, W]`` of ``dtype`` on ``device`` (BGR, 0..255, no mean/std)."""
    moved = images.to(device, non_blocking=True)
    return moved.permute(0, 3, 1, 2).to(dtype).contiguous()
