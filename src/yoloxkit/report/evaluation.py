"""``report.html`` of ``yoloxkit eval``: every table and curve of an evaluation on one page.

Sections: headline numbers, the 12 COCO numbers, a sortable per-class table (with each class's
operating threshold), PR and P/R/F1-against-confidence curves per class (one class can be
highlighted everywhere), the per-class operating thresholds, the confusion matrix, the TIDE-style
error breakdown, AP by object size, the worst images drawn (ground truth and predictions,
thumbnails inlined) and the speed. Rotated models get :func:`write_rotated_report`: the DOTA
numbers per class and the angle-error bins.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import YoloxkitError
from ..evaluation.cocometrics import STATS
from ..evaluation.confusion import normalize_rows
from ..evaluation.gallery import draw_worst
from ..evaluation.matching import RECALL_THRESHOLDS
from ..evaluation.result import EvaluationResult
from ..evaluation.tide import ERROR_TYPES
from ..files import encode_image
from .charts import line_chart
from .page import write_page

#: Curves against confidence are drawn at every 5th point of the 1001-point grid (a 0.005 step,
#: about two pixels of the chart).
CONF_STEP = 5
#: Longest side of an inlined thumbnail (pixels) and its JPEG quality.
THUMB_SIDE, THUMB_QUALITY = 400, 75
#: Confusion matrices up to this many classes are drawn as a table of cells.
MAX_CONFUSION_CLASSES = 100


def page_basics() -> dict[str, str]:
    """Fields every page shows in its footer."""
    from .. import __version__

    return {"version": __version__, "written": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


def thumbnail(image: np.ndarray) -> str:
    """A ``data:`` URI of ``image`` (BGR) shrunk to :data:`THUMB_SIDE` on its longest side."""
    scale = THUMB_SIDE / max(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        data = np.frombuffer(encode_image(image, ".png"), np.uint8)
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def gallery_items(result: EvaluationResult, count: int) -> tuple[list[dict], str | None]:
    """Thumbnails of the ``count`` worst images, and a note when they cannot be drawn."""
    if count <= 0 or not result.worst_images:
        return [], None
    items = []
    try:
        for drawing in draw_worst(result, count):
            w = drawing.worst
            items.append({"src": thumbnail(drawing.image), "rank": drawing.rank, "file": drawing.file_name,
                          "tp": w["tp"], "fp": w["fp"], "fn": w["fn"]})  # fmt: skip
    except YoloxkitError as exc:  # images moved or unreadable: the page says so and goes on
        return items, f"the remaining images could not be drawn: {exc}"
    return items, None


def _curve_charts(result: EvaluationResult) -> list:
    names = result.names
    pr = result.precision[0, :, :, 0, -1].T.astype(np.float64)  # IoU 0.5, all areas, 100 dets: [K, R]
    valid = pr[:, 0] > -1
    series = [(names[k], pr[k], k, False) for k in range(len(names)) if valid[k]]
    if valid.any():
        series.append((f"all classes (AP50 {result.coco['AP50']:.3f})", pr[valid].mean(0), None, True))
    charts = [line_chart("Precision-recall, IoU 0.5", "recall", "precision", RECALL_THRESHOLDS, series)]
    conf = result.curves["conf"]
    has_objects = ~np.isnan(result.curves["recall"][:-1, 0])
    for key in ("f1", "precision", "recall"):
        values = result.curves[key]
        per_class = [(names[k], values[k, ::CONF_STEP], k, False) for k in range(len(names)) if has_objects[k]]
        main = ("all classes", values[-1, ::CONF_STEP], None, True)
        markers = []
        if key == "f1" and result.best.conf is not None:
            markers.append((result.best.conf, f"best F1 {result.best.f1:.3f} at conf {result.best.conf:.3f}"))
        charts.append(
            line_chart(f"{key.upper() if key == 'f1' else key.capitalize()} against confidence, IoU 0.5", "confidence",
                       key, conf[::CONF_STEP], [*per_class, main], markers=markers)
        )  # fmt: skip
    return charts


def _confusion(result: EvaluationResult) -> dict[str, Any] | None:
    if result.gt.num_classes > MAX_CONFUSION_CLASSES:
        return None
    share = normalize_rows(result.confusion)
    return {
        "labels": [*result.names, "background"],
        "cells": [[(int(c), float(s)) for c, s in zip(counts, shares)] for counts, shares in zip(result.confusion, share)],
        "numbers": result.gt.num_classes <= 30,
    }


def eval_context(result: EvaluationResult, source: str, data: str, split: str, gallery: int) -> dict[str, Any]:
    """Everything ``eval.html.j2`` shows, from one evaluation."""
    summary = result.to_dict()
    thresholds = result.operating.to_dict() if result.operating is not None else None
    per_class = summary["per_class"]
    if thresholds is not None:
        by_name = {c["class"]: c["conf"] for c in thresholds["classes"]}
        per_class = [row | {"threshold": by_name.get(row["name"])} for row in per_class]
    images, gallery_note = gallery_items(result, gallery)
    max_gain = max([result.errors.delta_ap[t] for t in ERROR_TYPES] + [1e-12])
    errors = [{"type": t, "count": result.errors.counts[t], "gain": result.errors.delta_ap[t],
               "width": 100 * result.errors.delta_ap[t] / max_gain} for t in ERROR_TYPES]  # fmt: skip
    sizes = [{"name": name, "objects": count, "AP": result.coco[f"AP{s}"], "AR": result.coco[f"AR{s}"]}
             for (name, s), count in zip((("small", "s"), ("medium", "m"), ("large", "l")), result.objects_by_size())]  # fmt: skip
    coco = [{"key": key, "value": result.coco[key], "label": _stat_label(spec)} for key, spec in STATS.items()]
    return page_basics() | {
        "source": source, "data": data, "split": split, "summary": summary, "coco": coco, "per_class": per_class,
        "names": result.names, "charts": _curve_charts(result), "thresholds": thresholds,
        "confusion": _confusion(result), "errors": errors, "sizes": sizes, "gallery": images,
        "gallery_note": gallery_note, "warnings": result.settings.get("warnings", []),
    }  # fmt: skip


def _stat_label(spec: tuple) -> str:
    is_ap, iou, area, max_det = spec
    iou_text = "0.50:0.95" if iou is None else f"{iou:0.2f}"
    return f"{'AP' if is_ap else 'AR'} @ IoU {iou_text}, area {area}, {max_det} detections"


def write_eval_report(
    result: EvaluationResult, out: Path, source: str, data: str, split: str, gallery: int = 12
) -> Path:
    """Write ``out/report.html`` for an axis-aligned evaluation (``gallery`` worst images drawn);
    returns its path."""
    return write_page(out / "report.html", "eval.html.j2", **eval_context(result, source, data, split, gallery))


def write_rotated_report(metrics: dict[str, Any], out: Path, source: str, data: str) -> Path:
    """Write ``out/report.html`` for a rotated evaluation from its ``metrics.json`` content."""
    return write_page(out / "report.html", "rotated.html.j2", m=metrics, source=source, data=data, **page_basics())
