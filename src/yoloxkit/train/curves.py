"""PNG curves of a run (losses, learning rate, validation mAP) drawn from its ``metrics.csv``."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_write
from .runlog import RunLog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAP_COLUMNS = ("val/mAP50_95", "val/mAP50")
Row = dict[str, float | str]


def _series(rows: list[Row], scope: str, name: str, x: str = "step") -> tuple[list[int], list[float]]:
    """(x, values) of ``name`` over the ``scope`` rows that have it, non-finite values dropped."""
    points = [(int(r[x]), float(r[name])) for r in rows if r["scope"] == scope and name in r]
    points = [(at, value) for at, value in points if math.isfinite(value)]
    return [at for at, _ in points], [value for _, value in points]


def smooth(values: list[float], span: int) -> list[float]:
    """Exponential moving average over about ``span`` points, bias-corrected at the start."""
    alpha = 2.0 / (span + 1)
    mean, weight, out = 0.0, 0.0, []
    for value in values:
        mean = (1 - alpha) * mean + alpha * value
        weight = (1 - alpha) * weight + alpha
        out.append(mean / weight)
    return out


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure with no GUI backend (matplotlib is imported here, not when the trainer is)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _save(figure: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())
    return path


def _loss_axes(axes: Axes, rows: list[Row], name: str) -> None:
    steps, values = _series(rows, "step", name)
    if steps:
        axes.plot(steps, values, color="tab:blue", alpha=0.25, linewidth=0.8, label="per step")
        axes.plot(steps, smooth(values, max(1, len(values) // 30)), color="tab:blue", label="smoothed")
    epoch_steps, epoch_values = _series(rows, "epoch", name)
    if epoch_steps:
        axes.plot(epoch_steps, epoch_values, "o-", color="tab:orange", markersize=3, label="epoch mean")
    axes.set_title(name)
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")


def _plot_losses(rows: list[Row], path: Path) -> Path | None:
    names = list(dict.fromkeys(k for r in rows for k in r if k.startswith("loss")))
    if not names:
        return None
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    figure = _figure((5 * cols, 3.5 * nrows))
    for i, name in enumerate(names):
        _loss_axes(figure.add_subplot(nrows, cols, i + 1), rows, name)
    return _save(figure, path)


def _plot_lr(rows: list[Row], path: Path) -> Path | None:
    scope = "step" if any(r["scope"] == "step" and "lr" in r for r in rows) else "epoch"
    steps, values = _series(rows, scope, "lr")
    if not steps:
        return None
    figure = _figure((6, 3.5))
    axes = figure.add_subplot()
    axes.plot(steps, values, color="tab:green")
    axes.set_title("learning rate")
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _plot_map(rows: list[Row], path: Path) -> Path | None:
    series = {name: _series(rows, "epoch", name, x="epoch") for name in MAP_COLUMNS}
    series = {name: points for name, points in series.items() if points[0]}
    if not series:
        return None
    figure = _figure((6, 4))
    axes = figure.add_subplot()
    for name, (epochs, values) in series.items():
        axes.plot(epochs, values, "o-", markersize=3, label=name)
        best = max(range(len(values)), key=values.__getitem__)
        axes.annotate(f"{values[best]:.3f}", (epochs[best], values[best]), textcoords="offset points", xytext=(0, 6), ha="center")
    axes.set_title("validation mAP (best marked)")
    axes.set_xlabel("epoch")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_curves(metrics_csv: Path, out_dir: Path) -> list[Path]:
    """Draw ``losses.png``, ``lr.png`` and ``map.png`` in ``out_dir``; return the files written.

    ``losses.png``: one panel per loss column (per step, smoothed, and the per-epoch means);
    ``lr.png``: the learning rate per step; ``map.png``: ``val/mAP50_95`` and ``val/mAP50`` per
    epoch with the best value marked. A figure without data (e.g. no validation rows) is skipped.
    """
    rows = RunLog.read(Path(metrics_csv))
    out_dir = Path(out_dir)
    plots = ((_plot_losses, "losses.png"), (_plot_lr, "lr.png"), (_plot_map, "map.png"))
    written = [plot(rows, out_dir / name) for plot, name in plots]
    return [path for path in written if path is not None]
