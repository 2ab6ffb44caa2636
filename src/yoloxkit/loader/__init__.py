"""Feeding the trainer: records of a split, image decode and caches, torch Datasets and DataLoaders.

Typical use::

    from yoloxkit.augment import AugmentConfig
    from yoloxkit.datasets import load_dataset
    from yoloxkit.loader import LoaderConfig, images_to_device, make_train_loader

    loader = make_train_loader(load_dataset("data"), "train", AugmentConfig.for_model("yolox-s"),
                               LoaderConfig(batch_size=16, num_workers=4, cache="ram"))
    for batch in loader:
        inputs = images_to_device(batch.images, "cuda")   # float NCHW, BGR 0..255
"""

from .badimages import BadImageLog
from .cache import build_store, image_offsets
from .dataset import SampleInfo, TrainDataset, TrainSource, ValDataset
from .decode import BadImageError, decode_fitted
from .factory import LoaderConfig, TrainBatch, TrainLoader, images_to_device, make_train_loader, make_val_loader
from .records import TrainRecords

__all__ = [
    "BadImageError", "BadImageLog", "LoaderConfig", "SampleInfo", "TrainBatch", "TrainDataset", "TrainLoader",
    "TrainRecords", "TrainSource", "ValDataset", "build_store", "decode_fitted", "image_offsets", "images_to_device",
    "make_train_loader", "make_val_loader",
]  # fmt: skip
