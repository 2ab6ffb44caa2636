"""``compare.html`` of ``yoloxkit compare``: the verdict, both sides' numbers and runs, the
distribution of the resampled differences and the per-class differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.comparison import SUMMARY_KEYS, Comparison
from .charts import line_chart
from .evaluation import page_basics
from .page import write_page


def delta_chart(comparison: Comparison):
    """The bootstrap distribution of AP(B) - AP(A) with 0 and the 95 % interval marked."""
    boot = comparison.boot
    edges = np.asarray(boot.histogram["edges"], dtype=np.float64)
    counts = np.asarray(boot.histogram["counts"], dtype=np.float64)
    x = np.repeat(edges, 2)[1:-1]  # a step outline of the histogram
    y = np.repeat(counts, 2)
    low, high = min(edges[0], 0.0), max(edges[-1], 0.0)
    pad = 0.05 * (high - low or 1.0)
    markers = [(0.0, "no difference"), (boot.low, f"2.5 % {boot.low:+.4f}"), (boot.high, f"97.5 % {boot.high:+.4f}")]
    return line_chart(
        "Resampled AP(B) - AP(A)", "AP(B) - AP(A), mAP50:95", "resamples", x,
        [("resamples", y, None, True)], xlim=(low - pad, high + pad), ylim=(0.0, max(1.0, counts.max() * 1.08)), markers=markers,
    )  # fmt: skip


def write_compare_report(comparison: Comparison, out: Path, data: str, split: str) -> Path:
    """Write ``out/compare.html``; returns its path."""
    coco = comparison.coco()
    summary = [{"key": k, **coco[k]} for k in SUMMARY_KEYS]
    runs = {"A": list(zip(comparison.a.runs, comparison.boot.runs_a)), "B": list(zip(comparison.b.runs, comparison.boot.runs_b))}
    return write_page(
        out / "compare.html", "compare.html.j2", c=comparison, summary=summary, runs=runs, chart=delta_chart(comparison),
        per_class=comparison.per_class(), data=data, split=split, **page_basics(),
    )  # fmt: skip
