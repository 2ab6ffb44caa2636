"""PNG plots of an evaluation: PR curves, P/R/F1 against confidence, confusion matrix, AP by size, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import write_figure

from .confusion import normalize_rows
from .matching import RECALL_THRESHOLDS
from .result import EvaluationResult
from .tide import ERROR_TYPES

#: Classes named in a legend at most; beyond this, per-class lines are drawn grey without names.
MAX_LEGEND = 12
#: Per-class curves against confidence are drawn at every ``CURVE_STEP``-th point of the 1001-point
#: grid (201 points: a 0.005 step, finer than the pixels of a 5-inch axis at 120 dpi); the
#: all-class curve keeps every point.
CURVE_STEP = 5
#: Largest side of the confusion matrix figure in inches (0.3 inch per class up to it; beyond,
#: the labels shrink with the cells instead of the image growing past ~1900 pixels).
MAX_CONFUSION_INCHES = 16.0
PLOTS = ("pr_curves.png", "prf_vs_conf.png", "confusion_matrix.png", "ap_by_size.png", "errors.png")


def write_plots(result: EvaluationResult, out: Path) -> list[Path]:
    """Write every plot into ``out``; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in zip(PLOTS, (_pr_curves, _prf_vs_conf, _confusion, _ap_by_size, _errors)):
        fig = draw(plt, result)
        write_figure(out / name, fig, dpi=120, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / name)
    return paths


def _class_lines(ax, x: np.ndarray, ys: np.ndarray, names: list[str], valid: np.ndarray) -> None:
    named = valid.sum() <= MAX_LEGEND
    for y, name, ok in zip(ys, names, valid):
        if ok:
            ax.plot(x, y, linewidth=1, **({"label": name} if named else {"color": "grey", "alpha": 0.4}))


def _pr_curves(plt, result: EvaluationResult):
    fig, ax = plt.subplots(figsize=(7, 5))
    curves = result.precision[0, :, :, 0, -1].T  # IoU 0.5, all sizes, 100 detections: [K, R]
    valid = curves[:, 0] > -1
    _class_lines(ax, RECALL_THRESHOLDS, curves, result.names, valid)
    if valid.any():
        mean = curves[valid].mean(0)
        ax.plot(
            RECALL_THRESHOLDS, mean, color="blue", linewidth=3, label=f"all classes, AP50 {result.coco['AP50']:.3f}"
        )
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Precision-recall at IoU 0.5 (COCO interpolation)",
    )
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _prf_vs_conf(plt, result: EvaluationResult):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    conf = result.curves["conf"]
    valid = ~np.isnan(result.curves["recall"][:-1, 0])  # classes with objects
    for ax, key in zip(axes, ("f1", "precision", "recall")):
        values = result.curves[key]
        _class_lines(ax, conf[::CURVE_STEP], values[:-1, ::CURVE_STEP], result.names, valid)
        ax.plot(conf, values[-1], color="blue", linewidth=3, label="all classes")
        if key == "f1" and result.best.conf is not None:
            ax.axvline(
                result.best.conf,
                color="red",
                linestyle="--",
                label=f"best F1 {result.best.f1:.3f} at {result.best.conf:.3f}",
            )
        ax.set(
            xlabel="confidence", ylabel=key, xlim=(0, 1), ylim=(0, 1.01), title=f"{key} against confidence (IoU 0.5)"
        )
        ax.legend(fontsize=7)
    return fig


def _confusion(plt, result: EvaluationResult):
    labels = [*result.names, "background"]
    size = min(max(6, 0.3 * len(labels)), MAX_CONFUSION_INCHES)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    share = normalize_rows(result.confusion)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ticks = np.arange(len(labels))
    font = min(7.0, 7.0 * size / (0.3 * len(labels)))
    ax.set_xticks(ticks, labels, rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels, fontsize=font)
    if len(labels) <= 21:
        for (i, j), count in np.ndenumerate(result.confusion):
            if count:
                ax.text(j, i, f"{count}\n{share[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ax.set(
        xlabel="predicted",
        ylabel="true",
        title=f"Confusion matrix (rows normalised; conf {result.at_conf.conf}, IoU 0.5)",
    )
    return fig


def _ap_by_size(plt, result: EvaluationResult):
    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = ("small", "medium", "large")
    ap = [max(result.coco[k], 0) for k in ("APs", "APm", "APl")]
    ar = [max(result.coco[k], 0) for k in ("ARs", "ARm", "ARl")]
    x = np.arange(3)
    ax.bar(x - 0.2, ap, 0.4, label="AP 0.50:0.95")
    ax.bar(x + 0.2, ar, 0.4, label="AR 100")
    ax.set_xticks(x, [f"{s}\n({c} objects)" for s, c in zip(sizes, result.objects_by_size())])
    ax.set(ylim=(0, 1), title="AP and AR by object size (COCO areas 32², 96²)")
    ax.legend()
    return fig


def _errors(plt, result: EvaluationResult):
    fig, ax = plt.subplots(figsize=(7, 4))
    gains = [result.errors.delta_ap[t] for t in ERROR_TYPES]
    bars = ax.bar(ERROR_TYPES, gains, color=["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f", "#1f77b4"])
    for bar, t in zip(bars, ERROR_TYPES):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            str(result.errors.counts[t]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set(
        ylabel="AP50 gained if fixed", title=f"Errors (TIDE-style; mAP50 {result.errors.ap50:.3f}; counts above bars)"
    )
    return fig
