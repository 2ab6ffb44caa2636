"""Validation during training: the EMA model through the one evaluator, COCO mAP50:95 and mAP50.

Rotated models are scored by the DOTA rules instead (:class:`RotatedValidator`: VOC07 AP per
class at rotated IoU 0.5 ... 0.95, difficult objects ignored), reported under the same names.

Images are read, letterboxed and predicted exactly as ``yoloxkit eval`` does it
(:func:`yoloxkit.evaluation.inference.predict_into` over a :class:`~yoloxkit.Detector` that wraps
the averaged model); only the 12 COCO numbers are computed, the full report is left to
``yoloxkit eval``. When the model predicts more classes than the dataset (classes appended to
COCO's 80), detections of classes outside the dataset are dropped and the others renumbered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from ..data.preprocess import PreprocessContract
from ..datasets import Dataset
from ..detector import Detector
from ..evaluation import Evaluator
from ..evaluation.groundtruth import load_ground_truth
from ..evaluation.inference import predict_into
from ..models.yolox import YOLOX
from ..structures.detections import Detections

logger = logging.getLogger("yoloxkit")


class _SplitValidator:
    """What every validator holds: the model's name and classes, the input contract, thresholds."""

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        model_name: str,
        model_class_names: Sequence[str],
        input_size: tuple[int, int],
        conf: float = 0.01,
        iou: float = 0.65,
        batch: int = 8,
    ) -> None:
        self.model_name = model_name
        self.model_class_names = list(model_class_names)
        self.contract = PreprocessContract(tuple(input_size))
        self.conf, self.iou, self.batch = conf, iou, batch
        self._load(dataset, split)

    def _load(self, dataset: Dataset, split: str) -> None:
        raise NotImplementedError

    def _detector(self, model: YOLOX, device: torch.device) -> Detector:
        return Detector(model, self.model_name, self.model_class_names, self.contract, device, pretrained=False)


class Validator(_SplitValidator):
    """``validator(model) -> {"mAP50_95": ..., "mAP50": ...}`` on one split."""

    def _load(self, dataset: Dataset, split: str) -> None:
        self.gt = load_ground_truth(dataset, split)
        index = {name: i for i, name in enumerate(self.gt.names)}
        self._to_dataset = np.array([index.get(name, -1) for name in self.model_class_names], dtype=np.int64)
        self.nonfinite = 0  # detections left out by the last validation

    @torch.no_grad()
    def __call__(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """COCO metrics of ``model`` (left in eval mode) on the split."""
        detector = self._detector(model, device)
        evaluator = Evaluator(self.gt, self.conf)
        self.nonfinite = 0
        predict_into(evaluator, detector, self.conf, self.iou, self.batch, progress=False, transform=self._remap)
        if self.nonfinite:
            logger.warning("validation: %d detections with non-finite boxes or scores left out (the model is still unstable)", self.nonfinite)
        coco = evaluator.coco()
        return {"mAP50_95": float(coco["AP"]), "mAP50": float(coco["AP50"]), "mAP75": float(coco["AP75"])}

    def _remap(self, detections: list[Detections]) -> list[Detections]:
        """Drop non-finite boxes (an early model can overflow its size decode) and classes outside the dataset."""
        remapped = []
        for det in detections:
            classes = self._to_dataset[det.class_ids]
            finite = np.isfinite(det.boxes.data).all(axis=1) & np.isfinite(det.scores)
            keep = (classes >= 0) & finite
            self.nonfinite += int((~finite).sum())
            remapped.append(Detections(det.boxes[keep], det.scores[keep], classes[keep],
                                       self.gt.names, det.image_size, det.source))  # fmt: skip
        return remapped


class RotatedValidator(_SplitValidator):
    """``validator(model) -> {"mAP50_95", "mAP50", "mAP75"}`` of a rotated model by the DOTA rules.

    The split's polygons (qbox annotations) are the ground truth, its ``difficult`` flags are
    ignored objects; images are predicted whole through the preprocessing contract.
    """

    def _load(self, dataset: Dataset, split: str) -> None:
        from ..evaluation.dota import DotaGroundTruth
        from ..structures.boxes import BoxFormat

        records = dataset.splits[split].images
        names = [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]
        index = {c.id: k for k, c in enumerate(sorted(dataset.categories, key=lambda c: c.id))}
        rows = [(i, quad, index[int(cid)], bool(diff))
                for i, record in enumerate(records)
                for quad, cid, diff in zip(record.annotations.boxes.convert(BoxFormat.QBOX).tolist(),
                                           record.annotations.category_ids, record.annotations.difficult)]  # fmt: skip
        self.gt = DotaGroundTruth(
            names,
            [str(i) for i in range(len(records))],
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 8),
            np.array([r[2] for r in rows], dtype=np.int64),
            np.array([r[3] for r in rows], dtype=bool),
        )
        self.paths = [dataset.splits[split].path(record) for record in records]

    @torch.no_grad()
    def __call__(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """DOTA metrics of ``model`` (left in eval mode) on the split."""
        from ..dota.task1 import Task1Detections
        from ..evaluation.dota import evaluate_task1
        from ..structures.boxes import BoxFormat

        detector = self._detector(model, device)
        found: dict[str, list] = {name: [] for name in self.gt.class_names}
        for start in range(0, len(self.paths), self.batch):
            chunk = [str(p) for p in self.paths[start : start + self.batch]]
            for offset, det in enumerate(detector.predict(chunk, self.conf, self.iou, self.batch)):
                quads = det.boxes.convert(BoxFormat.QBOX).data
                for quad, score, cid in zip(quads, det.scores, det.class_ids):
                    name = self.model_class_names[int(cid)]
                    if name in found and np.isfinite(quad).all():
                        found[name].append((str(start + offset), float(score), quad))
        detections = {
            name: Task1Detections([r[0] for r in rows], np.array([r[1] for r in rows], dtype=np.float64),
                                  np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, 8))
            for name, rows in found.items()
        }  # fmt: skip
        metrics = evaluate_task1(self.gt, detections).metrics()
        return {"mAP50_95": metrics["mAP"], "mAP50": metrics["AP50"], "mAP75": metrics["AP75"]}
