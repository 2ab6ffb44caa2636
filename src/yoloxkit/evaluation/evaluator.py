"""The COCO evaluator: ``reset`` / ``update`` with a batch of predictions / ``compute``.

It implements the evaluator protocol (:mod:`yoloxkit.evaluation.protocol`) for axis-aligned
boxes; :class:`~yoloxkit.evaluation.dota_evaluator.DotaEvaluator` does for oriented ones.

Used by ``yoloxkit eval``, by validation during training and by the Python API::

    gt = load_ground_truth("data/coco", "val2017")
    evaluator = Evaluator(gt)
    for image_ids, detections in batches:          # Detections from Detector.predict_arrays
        evaluator.update(image_ids, detections)
    print(evaluator.coco()["AP"])                   # the 12 COCO numbers only (cheap)
    result = evaluator.compute()                    # everything: P/R/F1, VOC, confusion, errors
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import YoloxkitError
from ..structures import Detections
from .cocometrics import accumulate, summarize
from .cocometrics import per_class as per_class_ap
from . import background
from .confusion import confusion_matrix
from .groundtruth import GroundTruth
from .matching import MAX_DETS, CocoMatches, coco_match
from .operating import DEFAULT_RESAMPLES, OperatingThresholds, iou_index, operating_thresholds, parse_criterion
from .overlaps import image_overlaps
from .predictions import PredictionArrays, from_detections, from_results
from .prf import best_f1_conf, curves, operating_point
from .result import EvaluationResult
from .tide import error_breakdown
from .voc import voc_metrics

#: Default confidence of the P/R/F1 operating point, the confusion matrix and the worst images.
DEFAULT_CONF = 0.25
#: Detections from which ``compute`` accumulates COCO's curves in a background thread (below,
#: the thread costs more than it saves).
PARALLEL_MIN_DETECTIONS = 50_000


class Evaluator:
    """Accumulates predictions for one split and computes every metric from them.

    ``conf`` is the user's operating confidence (P/R/F1, confusion matrix, worst images); the COCO
    and VOC metrics use every detection. ``worst`` is how many worst images to list. ``operating``
    (``f1``, ``precision=P`` or ``recall=R``), ``operating_iou`` and ``resamples`` choose the
    per-class thresholds of :mod:`~yoloxkit.evaluation.operating`.
    """

    def __init__(
        self, ground_truth: GroundTruth, conf: float = DEFAULT_CONF, worst: int = 20, operating: str = "f1",
        operating_iou: float = 0.5, resamples: int = DEFAULT_RESAMPLES,
    ) -> None:  # fmt: skip
        self.gt = ground_truth
        self.conf = conf
        self.worst = worst
        self.operating = parse_criterion(operating)  # checked now: a typo fails before any work
        iou_index(operating_iou)
        self.operating_iou, self.resamples = operating_iou, resamples
        self._parts: list[PredictionArrays] = []
        self._matches: CocoMatches | None = None

    @property
    def class_names(self) -> list[str]:
        """The ground truth's category names; detections carry indices into this list."""
        return list(self.gt.names)

    def image_paths(self) -> list[Path]:
        """The split's image files, in ground-truth order."""
        if self.gt.root is None:
            raise YoloxkitError("the ground truth does not say where its images are")
        return [Path(self.gt.root) / name for name in self.gt.file_names]

    def image_ids(self, indices: Sequence[int]) -> list[int]:
        """The COCO image ids of the images at positions ``indices``."""
        return self.gt.image_ids[np.asarray(indices, dtype=np.int64)].tolist()

    def reset(self) -> None:
        """Forget every prediction (e.g. before the next validation epoch)."""
        self._parts.clear()
        self._matches = None

    def update(self, image_ids: Sequence[int], detections: Sequence[Detections]) -> None:
        """Add the Detections of a batch of images, named by their COCO image ids."""
        self._add(from_detections(image_ids, detections, self.gt))

    def update_results(self, results: Sequence[dict], name: str = "predictions") -> None:
        """Add COCO results entries (``image_id``, ``category_id``, ``bbox`` x/y/w/h, ``score``)."""
        self._add(from_results(results, self.gt, name))

    def drop_images(self, indices: Sequence[int]) -> None:
        """Leave the images at ``indices`` (e.g. unreadable files) out of the evaluation entirely:
        their objects and any predictions added for them."""
        if not len(indices):
            return
        self.gt, mapping = self.gt.without_images(np.asarray(indices, dtype=np.int64))
        parts = []
        for part in self._parts:
            new = mapping[part.image]
            keep = new >= 0
            parts.append(PredictionArrays(new[keep], part.category[keep], part.xywh[keep], part.score[keep]))
        self._parts = parts
        self._matches = None

    def _add(self, part: PredictionArrays) -> None:
        self._parts.append(part)
        self._matches = None

    @property
    def predictions(self) -> PredictionArrays:
        """Everything added so far, in order."""
        return PredictionArrays.concat(self._parts)

    def results(self) -> list[dict]:
        """The predictions as COCO results entries (what ``--predictions`` reads back)."""
        p = self.predictions
        image_ids, category_ids = self.gt.image_ids[p.image].tolist(), self.gt.category_ids[p.category].tolist()
        return [
            {"image_id": i, "category_id": c, "bbox": box, "score": s}
            for i, c, box, s in zip(image_ids, category_ids, p.xywh.tolist(), p.score.tolist())
        ]

    def matches(self) -> CocoMatches:
        """COCO's matching of the predictions (computed once per set of updates)."""
        if self._matches is None:
            self._matches = coco_match(self.gt, self.predictions, MAX_DETS[-1])
        return self._matches

    def coco(self) -> dict[str, float]:
        """The 12 COCO numbers (``AP``, ``AP50``, ... ``ARl``), identical to pycocotools."""
        return summarize(*accumulate(self.matches(), self.gt.num_classes))

    def scores(self, per_class: bool = False) -> dict[str, float]:
        """``mAP50_95``, ``mAP50``, ``mAP75`` (COCO ``AP``, ``AP50``, ``AP75``); with ``per_class``,
        ``AP50_95/<name>`` of every category with objects in the split."""
        precision, recall = accumulate(self.matches(), self.gt.num_classes)
        coco = summarize(precision, recall)
        scores = {"mAP50_95": float(coco["AP"]), "mAP50": float(coco["AP50"]), "mAP75": float(coco["AP75"])}
        if per_class:
            for name, value in zip(self.gt.names, per_class_ap(precision, recall)["AP"]):
                if not np.isnan(value):  # categories without objects in the split have no AP
                    scores[f"AP50_95/{name}"] = float(value)
        return scores

    def compute(self) -> EvaluationResult:
        """Every metric: COCO, per class, P/R/F1, VOC AP, confusion matrix, errors, worst images."""
        gt, m = self.gt, self.matches()
        # COCO's accumulation (with the thresholds) and the analyses below are independent: on
        # large splits the accumulation runs in a background thread meanwhile (background.py).
        large = len(m.dets) >= PARALLEL_MIN_DETECTIONS
        pending = background.start(self._curves_and_thresholds, m) if large else None
        dets = m.dets
        gt_index, counted = m.gt_index[0, 0], ~m.ignored[0, 0]  # all sizes, IoU 0.5
        tp = counted & (gt_index >= 0)
        positives = m.positives(gt.num_classes)[0]
        analysis = (dets.score, dets.category, tp, counted, positives)
        best = operating_point(best_f1_conf(dets.score, tp, counted, int(positives.sum())), *analysis)
        at_conf = operating_point(self.conf, *analysis)
        taken = np.zeros(len(gt.image), bool)
        taken[gt_index[tp]] = True
        overlaps = image_overlaps(gt, dets, taken)
        voc = voc_metrics(gt, dets)
        kept = counted & (dets.score >= self.conf)
        found = np.zeros(len(gt.image), bool)
        found[gt_index[kept & tp]] = True
        status = np.select([~counted, dets.score < self.conf, tp], ["ignored", "below", "tp"], "fp")
        confusion = confusion_matrix(gt, dets, gt_index, counted, overlaps, self.conf)
        errors = error_breakdown(gt, dets, gt_index, counted, overlaps, positives)
        precision, recall, operating = pending() if pending is not None else self._curves_and_thresholds(m)
        columns = per_class_ap(precision, recall) | voc | _class_counts(gt)
        return EvaluationResult(
            gt=gt,
            coco=summarize(precision, recall),
            per_class=columns,
            best=best,
            at_conf=at_conf,
            voc={"mAP50_11pt": _nanmean(voc["VOC_AP50_11pt"]), "mAP50": _nanmean(voc["VOC_AP50"])},
            confusion=confusion,
            errors=errors,
            worst_images=_worst_images(gt, dets.image[kept & ~tp], found, self.worst),
            precision=precision,
            recall=recall,
            curves=curves(*analysis),
            detections=dets,
            det_status=status,
            gt_found=found,
            settings={"conf": self.conf, "max_dets": MAX_DETS[-1]},
            operating=operating,
        )

    def _curves_and_thresholds(self, m: CocoMatches) -> tuple[np.ndarray, np.ndarray, OperatingThresholds]:
        """COCO's precision/recall arrays and the per-class operating thresholds (the background half)."""
        precision, recall = accumulate(m, self.gt.num_classes)
        criterion, target = self.operating
        operating = operating_thresholds(self.gt, m, criterion, target, self.operating_iou, self.resamples)
        return precision, recall, operating


def _class_counts(gt: GroundTruth) -> dict[str, np.ndarray]:
    """Objects per class and images holding the class (crowd regions not counted)."""
    real = ~gt.crowd
    pairs = np.unique(gt.category[real] * max(gt.num_images, 1) + gt.image[real])
    return {
        "instances": np.bincount(gt.category[real], minlength=gt.num_classes),
        "images": np.bincount(pairs // max(gt.num_images, 1), minlength=gt.num_classes),
    }


def _worst_images(gt: GroundTruth, fp_images: np.ndarray, found: np.ndarray, count: int) -> list[dict]:
    """The ``count`` images with the most errors (FP + FN) at the operating confidence."""
    fp = np.bincount(fp_images, minlength=gt.num_images)
    missed = ~found & ~gt.crowd
    fn = np.bincount(gt.image[missed], minlength=gt.num_images)
    tp = np.bincount(gt.image[found], minlength=gt.num_images)
    order = np.lexsort((np.arange(gt.num_images), -fn, -(fp + fn)))
    return [
        {
            "image_id": int(gt.image_ids[i]),
            "file_name": gt.file_names[i],
            "tp": int(tp[i]),
            "fp": int(fp[i]),
            "fn": int(fn[i]),
        }
        for i in order[:count]
        if fp[i] + fn[i] > 0
    ]


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None
