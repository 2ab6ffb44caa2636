"""Evaluation: pycocotools-exact COCO metrics, P/R/F1, VOC AP, confusion matrix, error analysis.

Typical use::

    from yoloxkit import Detector
    from yoloxkit.evaluation import Evaluator, evaluate, load_ground_truth

    result = evaluate(Detector.from_checkpoint("best.pth"), "data/coco", split="val2017")
    print(result.coco["AP"], result.best.f1)

    evaluator = Evaluator(load_ground_truth("data/coco", "val2017"))   # e.g. in a training loop
    evaluator.update(image_ids, detections)
    metrics = evaluator.coco()
"""

from .bootstrap import BootstrapResult, paired_bootstrap, seed_bootstrap
from .evaluator import Evaluator
from .groundtruth import GroundTruth, load_ground_truth, resolve_split
from .inference import evaluate, evaluate_predictions, predict_into
from .predictions import read_results
from .result import EvaluationResult

__all__ = [
    "BootstrapResult", "EvaluationResult", "Evaluator", "GroundTruth", "evaluate", "evaluate_predictions",
    "load_ground_truth", "paired_bootstrap", "predict_into", "read_results", "resolve_split", "seed_bootstrap",
]  # fmt: skip
