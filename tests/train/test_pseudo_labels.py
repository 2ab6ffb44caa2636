"""Pseudo-labels of the old classes in append mode (issue 19 §5): confident detections of the
checkpoint's classes that overlap no label are added as labels, the new classes' labels stay, the
options are checked, and a run trains on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import COCO128_IMAGES
from yoloxkit import Detector
from yoloxkit.datasets.model import Annotations, Category, Dataset, ImageRecord, Split
from yoloxkit.errors import YoloxkitError
from yoloxkit.ops.nms import box_iou
from yoloxkit.structures.boxes import BoxFormat
from yoloxkit.train import Trainer, make_train_config
from yoloxkit.train.pseudo import OVERLAP_IOU, with_pseudo_labels


@pytest.fixture(scope="module")
def widgets(nano_checkpoint: Path) -> Dataset:
    """Six COCO128 images (read in place), each labelled with one object of a new class, 'widget',
    placed on the starting model's most confident detection (so that the overlap rule matters)."""
    detector = Detector.from_checkpoint(nano_checkpoint)
    records = []
    for i, path in enumerate(sorted(COCO128_IMAGES.glob("*.jpg"))[:6], start=1):
        (found,) = detector.predict(path, conf=0.05)
        h, w = found.image_size
        top = found.boxes.convert(BoxFormat.XYXY).data[int(np.argmax(found.scores))].astype(np.float64).tolist()
        records.append(ImageRecord(path.name, w, h, Annotations.from_lists(BoxFormat.XYXY, [top], [1]), i))
    root = COCO128_IMAGES
    return Dataset([Category(1, "widget")], {"train": Split("train", root, records[:4]), "val": Split("val", root, records[4:])}, BoxFormat.XYXY, "memory", "widgets")


def config(nano_checkpoint: Path, tmp_path: Path, *extra: str, **fields):
    return make_train_config(None, ["finetune.class_mode=append", "augment.input_size=[128,128]", "loader.workers=0", "log.progress=false",
                                    "log.plots=false", "log.report=false", "val.interval=1", *extra],
                             data="widgets", model="yolox-nano", epochs=1, batch=2, weights=str(nano_checkpoint), out=str(tmp_path / "run"), **fields)  # fmt: skip


def test_confident_old_class_detections_become_labels_apart_from_the_labelled_ones(widgets: Dataset, nano_checkpoint: Path, tmp_path: Path) -> None:
    labelled = with_pseudo_labels(widgets, config(nano_checkpoint, tmp_path, "finetune.pseudo_labels=0.3"))
    names = {c.id: c.name for c in labelled.categories}
    assert names[1] == "widget" and len(names) > 1 and all(n != "widget" for k, n in names.items() if k != 1)
    detector = Detector.from_checkpoint(nano_checkpoint)
    added = 0
    for before, after in zip(widgets.splits["train"].images, labelled.splits["train"].images):
        old, new = before.annotations, after.annotations
        np.testing.assert_array_equal(new.boxes.data[: len(old)], old.boxes.data)  # the real labels stay first, unchanged
        extra = new.boxes.data[len(old) :]
        added += len(extra)
        if len(extra):
            assert box_iou(torch.from_numpy(extra), torch.from_numpy(old.boxes.data)).max() < OVERLAP_IOU
            (found,) = detector.predict(widgets.splits["train"].path(before), conf=0.3)
            assert {names[c] for c in new.category_ids[len(old) :]} <= set(found.labels)
    assert added >= 3
    assert labelled.splits["val"] is widgets.splits["val"]  # validation keeps the real labels only


def test_pseudo_labels_need_append_mode_and_weights(widgets: Dataset, nano_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="needs --weights and --classes-mode append"):
        with_pseudo_labels(widgets, config(nano_checkpoint, tmp_path, "finetune.pseudo_labels=0.3", "finetune.class_mode=new"))
    with pytest.raises(YoloxkitError, match=r"pseudo_labels must lie in \[0, 1\]"):
        config(nano_checkpoint, tmp_path, "finetune.pseudo_labels=1.5")
    assert with_pseudo_labels(widgets, config(nano_checkpoint, tmp_path)) is widgets  # off by default


def test_a_run_trains_on_the_pseudo_labels(widgets: Dataset, nano_checkpoint: Path, tmp_path: Path) -> None:
    trainer = Trainer(config(nano_checkpoint, tmp_path, "finetune.pseudo_labels=0.3"), dataset=widgets)
    assert len(trainer.class_names) == 81 and trainer.class_names[80] == "widget"
    rows = trainer.loader.records.classes
    assert len(set(rows.tolist())) > 1  # widget and old classes among the training targets
    summary = trainer.fit()
    assert summary["epochs_run"] == 1
