"""The DOTA-devkit Task1 metric behind the evaluator protocol (``reset`` / ``update`` / ``compute``).

Detections are accumulated per image in the order they arrive and scored with
:func:`~yoloxkit.evaluation.dota.evaluate_task1`, exactly as if they had been written to Task1
files in that order and read back (the devkit's tie order depends on that order). Image ids are
positions in the ground truth's image list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..datasets.model import Dataset
from ..dota.task1 import Task1Detections
from ..structures.boxes import BoxFormat
from ..structures.detections import Detections
from .dota import DotaGroundTruth, DotaResult, evaluate_task1, ground_truth_of_split


class DotaEvaluator:
    """Accumulates oriented detections for the images of ``gt`` (files ``paths``) and scores them
    by the DOTA-devkit rules (VOC07 AP per class, difficult objects ignored)."""

    def __init__(self, gt: DotaGroundTruth, paths: Sequence[Path]) -> None:
        if len(paths) != len(gt.images):
            raise ValueError(f"{len(paths)} image paths for {len(gt.images)} ground-truth images")
        self.gt = gt
        self.paths = [Path(p) for p in paths]
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # image, class, score, quad

    @classmethod
    def from_split(cls, dataset: Dataset, split: str) -> DotaEvaluator:
        """An evaluator for ``split`` of an oriented dataset (images named by position)."""
        return cls(*ground_truth_of_split(dataset, split))

    @property
    def class_names(self) -> list[str]:
        """The ground truth's classes."""
        return list(self.gt.class_names)

    def image_paths(self) -> list[Path]:
        """The image files, in ground-truth order."""
        return list(self.paths)

    def image_ids(self, indices: Sequence[int]) -> list[int]:
        """Positions are the ids."""
        return [int(i) for i in indices]

    def reset(self) -> None:
        """Forget every detection."""
        self._parts.clear()

    def update(self, image_ids: Sequence[int], detections: Sequence[Detections]) -> None:
        """Add oriented detections (class indices into :attr:`class_names`), one per image id."""
        for image, det in zip(image_ids, detections):
            quads = np.asarray(det.boxes.numpy().convert(BoxFormat.QBOX).data, dtype=np.float64).reshape(-1, 8)
            n = len(quads)
            self._parts.append((np.full(n, int(image), np.int64), np.asarray(det.class_ids, np.int64),
                                np.asarray(det.scores, np.float64), quads))  # fmt: skip

    def drop_images(self, indices: Sequence[int]) -> None:
        """Leave the images at ``indices`` out: their objects and any detections added for them."""
        dropped = np.asarray(indices, dtype=np.int64)
        if not len(dropped):
            return
        keep = ~np.isin(self.gt.image, dropped)
        g = self.gt
        self.gt = DotaGroundTruth(g.class_names, g.images, g.image[keep], g.quads[keep], g.category[keep], g.difficult[keep])
        self._parts = [tuple(column[~np.isin(part[0], dropped)] for column in part) for part in self._parts]

    def task1(self) -> dict[str, Task1Detections]:
        """The detections as Task1 rows per class, in the order they were added."""
        if self._parts:
            image, category, score, quads = (np.concatenate(column) for column in zip(*self._parts))
        else:
            image, category, score, quads = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 8))
        found = {}
        for k, name in enumerate(self.gt.class_names):
            rows = category == k
            found[name] = Task1Detections([self.gt.images[i] for i in image[rows]], score[rows], quads[rows])
        return found

    def compute(self) -> DotaResult:
        """Per-class AP at every COCO-style threshold, by the devkit rules."""
        return evaluate_task1(self.gt, self.task1())

    def scores(self, per_class: bool = False) -> dict[str, float]:
        """``mAP50_95`` (mean over IoU 0.50:0.95), ``mAP50`` (the Task1 number), ``mAP75``; with
        ``per_class``, each class's AP averaged over the thresholds (classes with objects)."""
        result = self.compute()
        metrics = result.metrics()
        scores = {"mAP50_95": metrics["mAP"], "mAP50": metrics["AP50"], "mAP75": metrics["AP75"]}
        if per_class:
            for k, name in enumerate(result.class_names):
                if result.evaluated_classes[k]:
                    scores[f"AP50_95/{name}"] = float(result.ap[:, k].mean())
        return scores
