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
from .classes import match_classes
from .dota import DotaResult
from .dota_evaluator import DotaEvaluator
from .inference import predict_into

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
    progress: bool = False,
    strict: bool = False,
) -> DotaResult:
    """A rotated detector on ``split`` of an oriented dataset, by the DOTA-devkit Task1 rules
    (defaults: the reference's test settings, score 0.01, rotated NMS 0.1); ``angles`` adds the
    angle errors of :func:`yoloxkit.evaluation.angles.angle_errors` on the same detections.

    Images go through the same loop as axis-aligned evaluation
    (:func:`~yoloxkit.evaluation.inference.predict_into`): classes are matched by name, an
    unreadable image is left out with a warning (``strict`` stops at it), non-finite detections
    are dropped.
    """
    from ..datasets.load import load_dataset

    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    evaluator = DotaEvaluator.from_split(dataset, split)
    classes = match_classes(detector.class_names, evaluator.class_names)
    predict_into(evaluator, detector, conf, iou, batch, progress, None if classes.identity else classes.apply, strict)
    result = evaluator.compute()
    if angles:
        result.angle_errors = angle_errors(evaluator.gt, evaluator.task1())
    return result
