"""Everything one evaluation measured, with its JSON and per-class table forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .confusion import normalize_rows
from .groundtruth import GroundTruth
from .matching import AREA_RANGES, RankedDetections
from .operating import OperatingThresholds
from .prf import OperatingPoint
from .tide import ErrorBreakdown

#: Per-class columns, in the order of ``per_class.csv``.
CLASS_COLUMNS = (
    "class_index", "category_id", "name", "images", "instances",
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "VOC_AP50_11pt", "VOC_AP50",
    "P_best", "R_best", "F1_best", "P_conf", "R_conf", "F1_conf", "TP_conf", "FP_conf", "FN_conf",
)  # fmt: skip


@dataclass(eq=False)
class EvaluationResult:
    """Metrics of one set of predictions against one split's ground truth.

    ``coco`` holds the 12 pycocotools numbers (-1 where nothing can be measured, as pycocotools);
    fractions everywhere (0.5 = 50 %). ``detections``, ``det_status`` and ``gt_found`` describe the
    outcome of each detection and object at ``settings["conf"]`` (for drawing).
    """

    gt: GroundTruth
    coco: dict[str, float]
    per_class: dict[str, np.ndarray]  # column -> [K]
    best: OperatingPoint
    at_conf: OperatingPoint
    voc: dict[str, float]
    confusion: np.ndarray  # [K + 1, K + 1] (true, predicted), index K = background
    errors: ErrorBreakdown
    worst_images: list[dict]
    precision: np.ndarray  # COCOeval.eval["precision"] [T, R, K, A, M]
    recall: np.ndarray  # COCOeval.eval["recall"] [T, K, A, M]
    curves: dict[str, np.ndarray]  # conf grid and P/R/F1 [K + 1, G]
    detections: RankedDetections
    det_status: np.ndarray  # str [D]: "tp", "fp", "ignored" or "below" (under conf)
    gt_found: np.ndarray  # bool [G]
    settings: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] | None = None
    operating: OperatingThresholds | None = None  # per-class thresholds (thresholds.json)

    @property
    def names(self) -> list[str]:
        """Class names in class-index order."""
        return self.gt.names

    def objects_by_size(self) -> list[int]:
        """Objects (crowd left out) in COCO's small, medium and large area ranges."""
        area = self.gt.area[~self.gt.crowd]
        return [int(((area >= lo) & (area <= hi)).sum()) for _, lo, hi in AREA_RANGES[1:]]

    def class_rows(self) -> list[dict]:
        """One dict per class with the :data:`CLASS_COLUMNS` (None where undefined)."""
        columns = dict(self.per_class)
        columns |= {
            "class_index": np.arange(self.gt.num_classes),
            "category_id": self.gt.category_ids,
            "name": self.names,
        }
        for suffix, point in (("best", self.best), ("conf", self.at_conf)):
            for key, short in (("precision", "P"), ("recall", "R"), ("f1", "F1")):
                columns[f"{short}_{suffix}"] = point.per_class[key]
        for key in ("tp", "fp", "fn"):
            columns[f"{key.upper()}_conf"] = self.at_conf.per_class[key]
        return [{c: _plain(columns[c][k]) for c in CLASS_COLUMNS} for k in range(self.gt.num_classes)]

    def to_dict(self) -> dict:
        """``metrics.json``: the 12 COCO numbers under ``coco``, then per-class and the rest."""
        labels = [*self.names, "background"]
        return {
            "coco": dict(self.coco),
            "per_class": self.class_rows(),
            "prf": {"iou": 0.5, "best_f1": _point(self.best), "at_conf": _point(self.at_conf)},
            "voc": dict(self.voc),
            "confusion": {
                "conf": self.at_conf.conf,
                "iou": 0.5,
                "labels": labels,
                "counts": self.confusion.tolist(),
                "normalized": np.round(normalize_rows(self.confusion), 6).tolist(),
            },
            "errors": self.errors.to_dict(),
            "worst_images": self.worst_images,
            "speed": self.speed,
            "settings": self.settings,
            "images": self.gt.num_images,
            "instances": int((~self.gt.crowd).sum()),
            "detections": len(self.detections),
        }


def _point(point: OperatingPoint) -> dict:
    """All-classes figures of an operating point."""
    return {k: _plain(getattr(point, k)) for k in ("conf", "precision", "recall", "f1", "tp", "fp", "fn")}


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values; NaN as None."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value
