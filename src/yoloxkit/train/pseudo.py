"""Keeping the old classes when fine-tuning in append mode: pseudo-labels from the starting model.

``--classes-mode append`` keeps a checkpoint's classes and adds the dataset's. When the new
images also show objects of the old classes that nobody labelled (the usual case: "keep the COCO
classes and add mine"), plain fine-tuning teaches the model that they are background and the old
classes are forgotten. With ``finetune.pseudo_labels=CONF`` (> 0), before training the starting
model predicts every training image once; its detections of the old classes (those of the
checkpoint that the dataset does not label) scored at least ``CONF`` and overlapping no label
(IoU < 0.5 with every labelled box) are added as labels of their class. They are computed once,
from the starting weights, and not refreshed during the run (a model drifting on its own labels
is what the freeze avoids); a resumed run computes the same ones again. Axis-aligned models only.
The run logs how many were added per class.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from ..data.images import read_image
from ..datasets.model import Annotations, Category, Dataset, ImageRecord, Split
from ..errors import YoloxkitError
from ..ops.nms import box_iou
from ..structures.boxes import BoxFormat
from .config import TrainConfig
from .start import starting_weights

logger = logging.getLogger("yoloxkit")

#: Pseudo-labels overlapping a label this much are left out (the object is labelled already, or is a new-class object).
OVERLAP_IOU = 0.5
NMS_IOU = 0.45
BATCH = 8


def with_pseudo_labels(dataset: Dataset, config: TrainConfig, device: torch.device | str = "cpu", main: bool = True) -> Dataset:
    """``dataset`` with the old classes' pseudo-labels added to its training split (unchanged when off)."""
    conf = config.finetune.pseudo_labels
    if not conf:
        if config.finetune.class_mode == "append" and config.weights and main:
            logger.info("append mode: objects of the checkpoint's classes that the images show unlabelled teach the model to forget them; "
                        "--set finetune.pseudo_labels=0.5 labels them from the starting model (docs/finetuning.md)")  # fmt: skip
        return dataset
    if config.finetune.class_mode != "append" or not config.weights:
        raise YoloxkitError("finetune.pseudo_labels needs --weights and --classes-mode append (the old classes are the checkpoint's)")
    if dataset.box_format != BoxFormat.XYXY:
        raise YoloxkitError("finetune.pseudo_labels: axis-aligned datasets only")
    from ..detector import Detector

    names = [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]
    start = starting_weights(config, names, None, main)
    old = [name for name in start.checkpoint_names or [] if name not in names]
    if not old:
        return dataset
    detector = Detector.from_checkpoint(start.checkpoint, device=device)
    next_id = max((c.id for c in dataset.categories), default=0) + 1
    ids = {name: next_id + k for k, name in enumerate(old)}
    split = dataset.splits[config.loader.train_split]
    images, added = [], {name: 0 for name in old}
    for begin in range(0, len(split.images), BATCH):
        chunk = split.images[begin : begin + BATCH]
        predicted = detector.predict_arrays([read_image(split.path(image)) for image in chunk], [None] * len(chunk), conf=conf, iou=NMS_IOU)
        for image, detections in zip(chunk, predicted):
            images.append(_add(image, detections.finite()[0], ids, added))
    if main:
        logger.info("pseudo-labels of the old classes (score >= %g): %s", conf, ", ".join(f"{k} {v}" for k, v in added.items()))
    categories = [*dataset.categories, *(Category(ids[name], name) for name in old)]
    splits = {**dataset.splits, split.name: Split(split.name, split.root, images)}
    return dataclasses.replace(dataset, categories=categories, splits=splits)


def _add(image: ImageRecord, detections, ids: dict[str, int], added: dict[str, int]) -> ImageRecord:  # noqa: ANN001 - Detections
    """``image`` with the detections of old classes that overlap none of its labels added."""
    labels = detections.labels
    keep = np.array([name in ids for name in labels], dtype=bool)
    if not keep.any():
        return image
    boxes = detections.boxes.convert(BoxFormat.XYXY).numpy().data[keep]
    names = [name for name, k in zip(labels, keep) if k]
    existing = image.annotations.boxes.convert(BoxFormat.XYXY).numpy().data
    if len(existing):
        free = box_iou(torch.from_numpy(boxes), torch.from_numpy(existing)).numpy().max(axis=1) < OVERLAP_IOU
        boxes, names = boxes[free], [n for n, f in zip(names, free) if f]
    if not len(names):
        return image
    for name in names:
        added[name] += 1
    extra = Annotations.from_lists(BoxFormat.XYXY, boxes.astype(np.float64).tolist(), [ids[n] for n in names])
    merged = image.annotations.appended(extra)
    return dataclasses.replace(image, annotations=merged)
