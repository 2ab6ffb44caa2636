"""Validation during training: the EMA model through the one evaluator, COCO mAP50:95 and mAP50,
each class's AP50:95 and the loss on the split (axis-aligned models).

Rotated models are scored by the DOTA rules instead (:class:`RotatedValidator`: VOC07 AP per
class at rotated IoU 0.5 ... 0.95, difficult objects ignored), reported under the same names.

Images are read, letterboxed and predicted exactly as ``yoloxkit eval`` does it
(:func:`yoloxkit.evaluation.inference.predict_into` over a :class:`~yoloxkit.Detector` that wraps
the averaged model); only the 12 COCO numbers are computed, the full report is left to
``yoloxkit eval``. When the model predicts more classes than the dataset (classes appended to
COCO's 80), detections of classes outside the dataset are dropped and the others renumbered.

The validation loss is the training loss without its L1 term (``iou + obj + cls``, the same
SimOTA assignment) on the split's letterboxed images and their labels, averaged over batches:
with mAP it shows overfitting (training loss falling, validation loss rising).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from ..data.images import read_image
from ..data.preprocess import PreprocessContract, preprocess_batch
from ..datasets import Dataset
from ..detector import Detector
from ..errors import YoloxkitError
from ..evaluation import Evaluator
from ..evaluation.classes import ClassMap
from ..evaluation.cocometrics import accumulate, per_class, summarize
from ..evaluation.groundtruth import load_ground_truth
from ..evaluation.inference import predict_into
from ..loss import SimOTAAssigner, Targets, YOLOXLoss
from ..models.yolox import YOLOX

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
        loss: bool = False,
        per_class: bool = False,
    ) -> None:
        self.model_name = model_name
        self.model_class_names = list(model_class_names)
        self.contract = PreprocessContract(tuple(input_size))
        self.conf, self.iou, self.batch = conf, iou, batch
        self.with_loss, self.per_class = loss, per_class
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
        self._classes = ClassMap(np.array([index.get(name, -1) for name in self.model_class_names], dtype=np.int64), self.gt.names)
        model_rows = {name: i for i, name in enumerate(self.model_class_names)}
        self._to_model = np.array([model_rows.get(name, i) for i, name in enumerate(self.gt.names)], dtype=np.float32)
        self.nonfinite = 0  # detections left out by the last validation

    @torch.no_grad()
    def __call__(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """COCO metrics of ``model`` (left in eval mode) on the split."""
        detector = self._detector(model, device)
        evaluator = Evaluator(self.gt, self.conf)
        # predict_into drops non-finite detections (an early model can overflow its size decode)
        # and counts them; the class map drops classes outside the dataset and renumbers the rest.
        figures = predict_into(evaluator, detector, self.conf, self.iou, self.batch, progress=False, transform=self._classes.apply)
        self.nonfinite = figures["dropped_nonfinite"]
        if self.nonfinite:
            logger.warning("validation: %d detections with non-finite boxes or scores left out (the model is still unstable)", self.nonfinite)
        precision, recall = accumulate(evaluator.matches(), self.gt.num_classes)
        coco = summarize(precision, recall)
        scores = {"mAP50_95": float(coco["AP"]), "mAP50": float(coco["AP50"]), "mAP75": float(coco["AP75"])}
        if self.per_class:
            for name, value in zip(self.gt.names, per_class(precision, recall)["AP"]):
                if not np.isnan(value):  # classes without objects in the split have no AP
                    scores[f"AP50_95/{name}"] = float(value)
        if self.with_loss:
            scores |= self.loss(model, device)
        return scores

    @torch.no_grad()
    def loss(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """``{"loss", "loss_iou", "loss_obj", "loss_cls"}``: the training loss (no L1) on the split, batch mean."""
        criterion = YOLOXLoss(model.head.strides, SimOTAAssigner(), use_l1=False)
        root, to_model = self.gt.root, self._to_model
        sums: dict[str, float] = {}
        batches = 0
        for start in range(0, self.gt.num_images, self.batch):
            indices = range(start, min(start + self.batch, self.gt.num_images))
            images = []
            for i in indices:
                try:
                    images.append(read_image(root / self.gt.file_names[i]))
                except YoloxkitError:  # reported by the mAP pass
                    images = []
                    break
            if not images:
                continue
            tensor, ratios = preprocess_batch(images, self.contract)
            rows = []
            for i, ratio in zip(indices, ratios):
                objects = np.flatnonzero((self.gt.image == i) & ~self.gt.crowd)
                xywh = self.gt.xywh[objects] * ratio
                cxcywh = np.concatenate([xywh[:, :2] + xywh[:, 2:] / 2, xywh[:, 2:]], 1)
                rows.append(np.concatenate([to_model[self.gt.category[objects]][:, None], cxcywh], 1))
            width = max(max(len(r) for r in rows), 1)
            padded = np.zeros((len(rows), width, 5), dtype=np.float32)
            for b, r in enumerate(rows):
                padded[b, : len(r)] = r
            levels = model.head.forward_levels(model.backbone(tensor.to(device)))
            losses = criterion([level.float() for level in levels], Targets.from_padded(torch.from_numpy(padded).to(device)))
            for key in ("total", "iou", "obj", "cls"):
                sums[key] = sums.get(key, 0.0) + float(losses[key])
            batches += 1
        if not batches:
            return {}
        return {"loss": sums["total"] / batches} | {f"loss_{k}": sums[k] / batches for k in ("iou", "obj", "cls")}

class RotatedValidator(_SplitValidator):
    """``validator(model) -> {"mAP50_95", "mAP50", "mAP75"}`` of a rotated model by the DOTA rules.

    The split's polygons (qbox annotations) are the ground truth, its ``difficult`` flags are
    ignored objects; images are predicted whole through the preprocessing contract
    (:func:`yoloxkit.evaluation.rotated.evaluate_rotated`'s steps, with the trainer's thresholds).
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
