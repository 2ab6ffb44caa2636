"""``report.html`` of ``yoloxkit learning-curve``: per class, AP50:95 against labelled objects, the
fitted saturating curve extended to the target, the objects in the split and the objects needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..evaluation.learning import ClassCurve
from .charts import LineChart, line_chart
from .evaluation import page_basics
from .page import write_page

#: Per-class charts drawn at most (every class is in the table and the JSON).
MAX_CHARTS = 40
GRID = 120


def curve_chart(curve: ClassCurve, title: str) -> LineChart:
    """Measured mean AP per subset size (joined) and the fitted curve, up to past the objects needed."""
    n, ap = np.asarray(curve.objects, dtype=float), np.asarray(curve.ap, dtype=float)
    ok = (n > 0) & np.isfinite(ap)
    reach = [curve.have, n[ok].max(initial=1.0)]
    if curve.needed is not None and np.isfinite(curve.needed):
        reach.append(min(curve.needed, 20 * max(reach)))
    top = 1.1 * max(reach)
    x = np.linspace(0.0, top, GRID)
    measured = np.full(GRID, np.nan)
    if ok.any():
        sizes = np.unique(n[ok])
        means = np.array([ap[ok][n[ok] == s].mean() for s in sizes])
        inside = (x >= sizes.min()) & (x <= sizes.max())
        measured[inside] = np.interp(x[inside], sizes, means)
    series = [("measured (mean of the seeds, joined)", measured, None, False)]
    if curve.fit is not None:
        fitted = np.where(x > 0, curve.fit(np.maximum(x, 1e-9)), np.nan)
        series.append(("fitted A - B n^-c", np.clip(fitted, 0, 1), None, True))
    markers = [(curve.have, f"objects in the split: {curve.have:.0f}")]
    if curve.needed is not None and np.isfinite(curve.needed):
        markers.append((curve.needed, f"needed for AP {curve.target:g}: {curve.needed:.0f}"))
    return line_chart(title, "labelled objects", "AP50:95", x, series, xlim=(0.0, top), ylim=(0.0, 1.0), markers=markers,
                      colors=["#9a9a9a", "#1f5fbf"])  # fmt: skip


def write_learning_report(out: Path, curves: Sequence[ClassCurve], overall: ClassCurve, record: dict, data: str) -> Path:
    """Write ``out/report.html``."""
    charts = [(c, curve_chart(c, c.name)) for c in curves[:MAX_CHARTS]]
    return write_page(out / "report.html", "learning.html.j2", data=data, record=record, rows=[c.to_dict() | {"more_value": c.more} for c in curves],
                      overall=(overall, curve_chart(overall, "all classes: mAP50:95 against all objects")), charts=charts,
                      **page_basics())  # fmt: skip
