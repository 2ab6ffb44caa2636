"""A rotated detector on an oriented dataset: the DOTA-devkit Task1 metric and the angle errors.

The one entry point that runs a rotated model for evaluation (``yoloxkit eval``, the export mAP
gate); it sits above :mod:`~yoloxkit.evaluation.dota` (the metric) and
:mod:`~yoloxkit.evaluation.angles` (orientation errors, built on the metric's ground truth).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..datasets.model import Dataset
from ..ops import ROTATED_CONF, ROTATED_NMS_IOU
from .angles import angle_errors
from .dota import DotaResult, evaluate_task1, ground_truth_of_split, predict_task1

if TYPE_CHECKING:  # evaluation never imports the inference layer
    from ..detector import Detector


def evaluate_rotated(
    detector: Detector,
    data: str | Path | Dataset,
    split: str = "val",
    conf: float = ROTATED_CONF,
    iou: float = ROTATED_NMS_IOU,
    batch: int = 8,
    angles: bool = False,
) -> DotaResult:
    """A rotated detector on ``split`` of an oriented dataset, by the DOTA-devkit Task1 rules
    (defaults: the reference's test settings, score 0.01, rotated NMS 0.1); ``angles`` adds the
    angle errors of :func:`yoloxkit.evaluation.angles.angle_errors` on the same detections."""
    from ..datasets.load import load_dataset

    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    gt, paths = ground_truth_of_split(dataset, split)
    detections = predict_task1(detector, paths, gt.class_names, conf, iou, batch)
    result = evaluate_task1(gt, detections)
    if angles:
        result.angle_errors = angle_errors(gt, detections)
    return result
