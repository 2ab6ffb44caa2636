"""What a run starts from: the training dataset (loaded and checked) and the starting weights
(a fresh model, a checkpoint to fine-tune from, or the run being resumed) with their classes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .. import hub
from ..checkpoints import LoadedCheckpoint, read_checkpoint
from ..datasets import Dataset, Report
from ..datasets.load import load_dataset
from ..errors import YoloxkitError
from .config import TrainConfig
from .finetune import class_names_of, resolve_class_names

logger = logging.getLogger("yoloxkit")


def load_training_dataset(data: str | Path, main: bool = True) -> Dataset:
    """The dataset, with a warning (``main`` process) for its label files that have no image
    (``data check`` lists them)."""
    report = Report()
    dataset = load_dataset(data, report)
    orphans = [f for f in report.warnings if f.kind == "orphan-label"]
    if orphans and main:
        logger.warning(
            "warning: %d label files have no image, their objects are not used (e.g. %s); `yoloxkit data check` lists them",
            len(orphans), orphans[0].file,
        )  # fmt: skip
    return dataset


def check_training_splits(dataset: Dataset, config: TrainConfig, main: bool = True) -> None:
    """Refuse a missing training split or one without any object; warn about a validation split without any."""
    split = config.loader.train_split
    if split not in dataset.splits:
        raise YoloxkitError(
            f"loader.train_split: the dataset has no split {split!r} "
            f"(it has {', '.join(dataset.splits)}); make one with `yoloxkit data split`"
        )
    train = dataset.splits[split]
    if not any(len(image.annotations) for image in train.images):
        raise YoloxkitError(
            f"data: the {train.name!r} split of {dataset.source} has {len(train.images)} images but no labelled "
            "objects (no label files, or every label file empty); there is nothing to learn"
        )
    val = dataset.splits.get(config.loader.val_split) if config.loader.val_split else None
    if val is not None and not any(len(image.annotations) for image in val.images) and main:
        logger.warning("warning: the %r split has no labelled objects: its mAP means nothing", val.name)


@dataclass
class StartingWeights:
    """The model's classes and, when fine-tuning, the checkpoint to load and its class names."""

    class_names: list[str]
    checkpoint: LoadedCheckpoint | None = None
    checkpoint_names: list[str] | None = None


def starting_weights(
    config: TrainConfig, dataset_names: list[str], resume: LoadedCheckpoint | None, main: bool = True
) -> StartingWeights:
    """The classes a run trains and the weights it starts from: the resumed run's classes; a
    checkpoint's (``--weights``) merged with the dataset's by ``finetune.class_mode``; or the
    dataset's for a fresh model."""
    if resume is not None:
        return StartingWeights(list(resume.class_names or []))
    if not config.weights:
        return StartingWeights(list(dataset_names))
    checkpoint = read_checkpoint(hub.fetch(config.model) if config.weights == "pretrained" else config.weights)
    names = checkpoint_class_names(checkpoint, dataset_names, main)
    return StartingWeights(resolve_class_names(names, dataset_names, config.finetune.class_mode), checkpoint, names)


def checkpoint_class_names(checkpoint: LoadedCheckpoint, dataset_names: list[str], main: bool = True) -> list[str] | None:
    """The checkpoint's class names; a file that records none but has the dataset's class count
    is taken to hold the dataset's classes, by index (a warning says so)."""
    names = class_names_of(checkpoint)
    rows = checkpoint.state_dict.get("head.cls_preds.0.weight")
    if names is None and rows is not None and rows.shape[0] == len(dataset_names):
        if main:
            logger.warning("%s records no class names; its %d classes are taken as the dataset's, by index", checkpoint.path, rows.shape[0])
        return list(dataset_names)
    return names
