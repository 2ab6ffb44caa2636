"""Validation during training: the EMA model through the evaluator of its box type, the same loop
``yoloxkit eval`` runs (:func:`yoloxkit.evaluation.inference.predict_into` over a
:class:`~yoloxkit.Detector` that wraps the averaged model).

Axis-aligned models are scored by the COCO :class:`~yoloxkit.evaluation.Evaluator` (pycocotools'
mAP50:95, mAP50, mAP75), rotated models by the
:class:`~yoloxkit.evaluation.dota_evaluator.DotaEvaluator` (DOTA-devkit rules: VOC07 AP per class
at rotated IoU 0.5 ... 0.95, difficult objects ignored), reported under the same names; both can
add each class's AP50:95. Only these numbers are computed, the full report is left to
``yoloxkit eval``. When the model predicts more classes than the dataset (classes appended to
COCO's 80), detections of classes outside the dataset are dropped and the others renumbered.

The validation loss (axis-aligned models) is the training loss without its L1 term
(``iou + obj + cls``, the same SimOTA assignment) on the split's letterboxed images and their
labels, averaged over batches: with mAP it shows overfitting (training loss falling, validation
loss rising).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..data.images import read_image
from ..data.preprocess import PreprocessContract, preprocess_batch
from ..datasets import Dataset
from ..detector import Detector
from ..errors import YoloxkitError
from ..evaluation import Evaluator
from ..evaluation.classes import ClassMap
from ..evaluation.dota_evaluator import DotaEvaluator
from ..evaluation.groundtruth import load_ground_truth
from ..evaluation.inference import predict_into
from ..evaluation.protocol import SplitEvaluator
from ..loss import SimOTAAssigner, Targets, YOLOXLoss
from ..models.yolox import YOLOX

logger = logging.getLogger("yoloxkit")


class Validator:
    """``validator(model, device) -> {"mAP50_95": ..., "mAP50": ..., "mAP75": ...}`` on one split.

    ``rotated`` picks the DOTA evaluator; ``loss`` adds the validation loss (axis-aligned only),
    ``per_class`` each class's ``AP50_95/<name>``.
    """

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
        rotated: bool = False,
    ) -> None:
        self.model_name = model_name
        self.model_class_names = list(model_class_names)
        self.contract = PreprocessContract(tuple(input_size))
        self.conf, self.iou, self.batch = conf, iou, batch
        self.per_class, self.rotated = per_class, rotated
        self.with_loss = loss and not rotated
        if rotated:
            dota = DotaEvaluator.from_split(dataset, split)
            self._new_evaluator: Callable[[], SplitEvaluator] = lambda: DotaEvaluator(dota.gt, dota.paths)
            names = dota.class_names
        else:
            self.gt = load_ground_truth(dataset, split)
            self._new_evaluator = lambda: Evaluator(self.gt, conf)
            names = self.gt.names
            model_rows = {name: i for i, name in enumerate(self.model_class_names)}
            self._to_model = np.array([model_rows.get(name, i) for i, name in enumerate(names)], dtype=np.float32)
        index = {name: i for i, name in enumerate(names)}
        self._classes = ClassMap(np.array([index.get(name, -1) for name in self.model_class_names], dtype=np.int64), list(names))
        self.nonfinite = 0  # detections left out by the last validation
        self.last_evaluator: SplitEvaluator | None = None  # holds the last validation's matches

    @torch.no_grad()
    def __call__(self, model: YOLOX, device: torch.device) -> dict[str, float]:
        """The metrics of ``model`` (left in eval mode) on the split."""
        detector = Detector(model, self.model_name, self.model_class_names, self.contract, device, pretrained=False)
        evaluator = self._new_evaluator()  # fresh: an unreadable image is dropped from its ground truth
        # predict_into drops non-finite detections (an early model can overflow its size decode)
        # and counts them; the class map drops classes outside the dataset and renumbers the rest.
        figures = predict_into(evaluator, detector, self.conf, self.iou, self.batch, progress=False, transform=self._classes.apply)
        self.nonfinite = figures["dropped_nonfinite"]
        if self.nonfinite:
            logger.warning("validation: %d detections with non-finite boxes or scores left out (the model is still unstable)", self.nonfinite)
        scores = evaluator.scores(self.per_class)
        self.last_evaluator = evaluator
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
