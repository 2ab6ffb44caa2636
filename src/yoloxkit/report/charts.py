"""Line charts as data for the SVG templates: numbers mapped to pixel coordinates in Python.

A chart is drawn by ``templates/macros.html.j2`` from a :class:`LineChart`: axes, ticks, one
polyline per series (a NaN breaks the line), optional vertical markers. Series with a ``key``
(a class index) can be highlighted by the page's class picker; series without one are always
drawn in full. Coordinates are whole pixels of a 460 x 300 chart, and points inside a horizontal
or vertical run are left out (precision-recall curves are mostly such steps), which keeps a chart
of 80 classes near 50 kB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

WIDTH, HEIGHT = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 14, 42


@dataclass
class Series:
    """One line: its label, its polylines (``"x,y x,y ..."``), its class key and its style."""

    label: str
    paths: list[str]
    key: int | None = None
    emphasis: bool = False
    color: str = "#1f5fbf"


@dataclass
class LineChart:
    """Everything the SVG template needs for one chart (pixel coordinates)."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    xticks: list[tuple[float, str]]
    yticks: list[tuple[float, str]]
    markers: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The plot area: left, top, right, bottom (pixels)."""
        return LEFT, TOP, self.width - RIGHT, self.height - BOTTOM


def _tick_label(value: float, step: float) -> str:
    if step > 0 and abs(value) < 1e-9 * step:
        return "0"
    if 0 < step < 1e-3:
        return f"{value:.1e}"
    decimals = max(0, -int(np.floor(np.log10(step)))) if step > 0 else 0
    return f"{value:.{decimals}f}"


def _nice_range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-12:
        return low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** np.floor(np.log10(raw))
    step = magnitude * min((m for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=10)
    return np.arange(np.ceil(low / step) * step, high + 1e-9 * step, step)


def _thin(points: np.ndarray) -> np.ndarray:
    """Drop repeated points and the inner points of horizontal and vertical runs (same drawing)."""
    if len(points) < 3:
        return points
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(points[1:] != points[:-1], axis=1)
    points = points[keep]
    if len(points) < 3:
        return points
    same_x = (points[1:-1, 0] == points[:-2, 0]) & (points[1:-1, 0] == points[2:, 0])
    same_y = (points[1:-1, 1] == points[:-2, 1]) & (points[1:-1, 1] == points[2:, 1])
    inner = np.concatenate([[False], same_x | same_y, [False]])
    return points[~inner]


def _polylines(px: np.ndarray, py: np.ndarray) -> list[str]:
    """Polylines through the finite points; a non-finite value ends one and starts the next."""
    ok = np.isfinite(px) & np.isfinite(py)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    lines = []
    for start, stop in zip(edges[::2], edges[1::2]):
        points = _thin(np.rint(np.stack([px[start:stop], py[start:stop]], 1)).astype(np.int64))
        lines.append(" ".join(f"{x},{y}" for x, y in points.tolist()))
    return lines


def line_chart(
    title: str,
    xlabel: str,
    ylabel: str,
    x: Sequence[float] | np.ndarray,
    series: Sequence[tuple[str, Sequence[float] | np.ndarray, int | None, bool]],
    xlim: tuple[float, float] | None = (0.0, 1.0),
    ylim: tuple[float, float] | None = (0.0, 1.0),
    markers: Sequence[tuple[float, str]] = (),
    colors: Sequence[str] = (),
) -> LineChart:
    """A chart of ``series`` (``(label, y, key, emphasis)``) against ``x``; ``None`` limits fit the data."""
    x = np.asarray(x, dtype=np.float64)
    ys = [np.asarray(y, dtype=np.float64) for _, y, _, _ in series]
    x0, x1 = xlim if xlim is not None else _nice_range(x)
    y0, y1 = ylim if ylim is not None else _nice_range(np.concatenate(ys) if ys else np.array([]))
    chart = LineChart(title, xlabel, ylabel, [], [], [])
    left, top, right, bottom = chart.box

    def to_px(v: np.ndarray) -> np.ndarray:
        return left + (v - x0) / (x1 - x0) * (right - left)

    def to_py(v: np.ndarray) -> np.ndarray:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    px = to_px(x)
    for n, ((label, _, key, emphasis), y) in enumerate(zip(series, ys)):
        color = colors[n] if n < len(colors) else ("#1f5fbf" if emphasis else "#9a9a9a")
        chart.series.append(Series(label, _polylines(px, to_py(y)), key, emphasis, color))
    xt, yt = _ticks(x0, x1), _ticks(y0, y1)
    chart.xticks = [(float(to_px(v)), _tick_label(v, xt[1] - xt[0] if len(xt) > 1 else 1)) for v in xt]
    chart.yticks = [(float(to_py(v)), _tick_label(v, yt[1] - yt[0] if len(yt) > 1 else 1)) for v in yt]
    chart.markers = [(float(to_px(np.float64(v))), text) for v, text in markers if x0 <= v <= x1]
    return chart
