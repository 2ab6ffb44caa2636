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
    ignored objects; images are predicted whole through the preprocessing contract
    (:func:`yoloxkit.evaluation.dota.evaluate_rotated`'s steps, with the trainer's thresholds).
    """

    def _load(self, dataset: Dataset, split: str) -> None:
        from ..evaluation.dota import ground_truth_of_split

        self.gt, self.paths = ground_truth_of_split(dataset, split)

    @torch.no_grad()
    def __call__(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """DOTA metrics of ``model`` (left in eval mode) on the split."""
        from ..evaluation.dota import evaluate_task1, predict_task1

        detections = predict_task1(self._detector(model, device), self.paths, self.gt.class_names, self.conf, self.iou, self.batch)
        metrics = evaluate_task1(self.gt, detections).metrics()
        return {"mAP50_95": metrics["mAP"], "mAP50": metrics["AP50"], "mAP75": metrics["AP75"]}
