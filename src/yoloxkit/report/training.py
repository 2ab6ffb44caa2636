"""``RUN/report.html`` of ``yoloxkit train``: the run's curves from ``metrics.csv`` and its outcome.

Rewritten after every validation (so it shows a run in progress) and at the end. Charts: the
training losses per epoch (and the validation loss beside the training loss, the usual overfitting
signal), validation mAP50:95 and mAP50, the learning rate, and each class's AP50:95 at every
validation (pick a class to highlight it). At the end the page links the full evaluation of the
last validated model (``RUN/eval/report.html``) and shows its headline numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .charts import LineChart, line_chart
from .evaluation import page_basics
from .page import write_page

CLASS_AP_PREFIX = "val/AP50_95/"
PALETTE = ("#1f5fbf", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d")

Row = Mapping[str, float | str]


def _epoch_series(rows: Sequence[Row], name: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of ``name`` in the epoch rows that have a finite value."""
    points = []
    for row in rows:
        if row.get("scope") == "epoch" and name in row:
            value = float(row[name])
            if math.isfinite(value):
                points.append((float(row["epoch"]), value))
    return [e for e, _ in points], [v for _, v in points]


def _chart(title: str, ylabel: str, rows: Sequence[Row], names: Sequence[str], ylim=None) -> LineChart | None:
    """Epoch-wise lines of ``names`` on a shared epoch axis (None when none has a value)."""
    series = {name: _epoch_series(rows, name) for name in names}
    series = {name: points for name, points in series.items() if points[0]}
    if not series:
        return None
    epochs = sorted({e for xs, _ in series.values() for e in xs})
    lookup = {name: dict(zip(xs, ys)) for name, (xs, ys) in series.items()}
    lines = [(name, [lookup[name].get(e, math.nan) for e in epochs], None, True) for name in series]
    span = (min(epochs) - 0.5, max(epochs) + 0.5)
    return line_chart(title, "epoch", ylabel, epochs, lines, xlim=span, ylim=ylim, colors=PALETTE)


def _class_chart(rows: Sequence[Row], class_names: Sequence[str]) -> LineChart | None:
    columns = [f"{CLASS_AP_PREFIX}{name}" for name in class_names]
    validated = [r for r in rows if r.get("scope") == "epoch" and "val/mAP50_95" in r]
    if not validated or not any(c in r for r in validated for c in columns):
        return None
    epochs = [float(r["epoch"]) for r in validated]
    lines = [(name, [float(r.get(column, math.nan)) for r in validated], k, False)
             for k, (name, column) in enumerate(zip(class_names, columns))]  # fmt: skip
    lines.append(("mAP50:95", [float(r["val/mAP50_95"]) for r in validated], None, True))
    span = (min(epochs) - 0.5, max(epochs) + 0.5)
    return line_chart("AP50:95 per class at each validation", "epoch", "AP50:95", epochs, lines, xlim=span, ylim=(0, 1))


def train_context(rows: Sequence[Row], run: Mapping[str, Any], final: Mapping[str, Any] | None) -> dict[str, Any]:
    """Everything ``train.html.j2`` shows: ``run`` holds the run's facts (model, data, out,
    epochs, status, best), ``final`` the last evaluation's headline numbers (or None)."""
    losses = sorted({k for r in rows for k in r if k.startswith("loss")})
    charts = [
        _chart("Training losses (epoch means)", "loss", rows, losses),
        _chart("Training and validation loss", "loss", rows, ["loss", "val/loss"]),
        _chart("Validation mAP", "mAP", rows, ["val/mAP50_95", "val/mAP50", "val/mAP75"], ylim=(0, 1)),
        _chart("Learning rate (end of epoch)", "lr", rows, ["lr"]),
    ]
    class_names = list(run.get("classes") or [])
    validations = [dict(r) for r in rows if r.get("scope") == "epoch" and "val/mAP50_95" in r]
    return page_basics() | {
        "run": run, "final": final, "charts": [c for c in charts if c is not None],
        "class_chart": _class_chart(rows, class_names), "names": class_names,
        "validations": validations[-12:], "validated": len(validations),
    }  # fmt: skip


def write_train_report(out: Path, rows: Sequence[Row], run: Mapping[str, Any], final: Mapping[str, Any] | None = None) -> Path:
    """Write ``out/report.html`` for a training run; returns its path."""
    return write_page(out / "report.html", "train.html.j2", **train_context(rows, run, final))
