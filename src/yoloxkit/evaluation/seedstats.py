"""Seed-level guard for comparisons with few seeds: Welch's t-interval on the runs' APs.

A bootstrap that resamples 3 seeds sees at most 10 distinct draws per side and underestimates
how far the mean of 3 could move: with one failed seed among 3 (APs 0.03, 0.20, 0.26 against
0.29, 0.29, 0.27, real runs of ``benchmarks/seed_compare.py``), the hierarchical bootstrap put
the difference at [+0.02, +0.25] while the runs of the same recipe cannot really differ. The
t-interval on the per-run APs (Welch: unequal variances) widens with few seeds as it should
(t quantile 4.3 for 2 degrees of freedom); a comparison is called significant only when both
intervals exclude 0 (:class:`~yoloxkit.evaluation.comparison.Comparison`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Student t quantiles at 0.975 by degrees of freedom (interpolated in 1/df between them).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}  # fmt: skip
_Z975 = 1.959964


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t with ``df`` (>= 1, not necessarily whole) degrees of freedom."""
    if df >= 120:
        return float(np.interp(1 / df, [0, 1 / 120], [_Z975, _T975[120]]))
    keys = sorted(_T975)
    inverse = [1 / k for k in keys][::-1]
    values = [_T975[k] for k in keys][::-1]
    return float(np.interp(1 / max(df, 1.0), inverse, values))


@dataclass
class SeedInterval:
    """Welch's 95 % interval of mean AP(B) - mean AP(A) over the runs' APs."""

    low: float
    high: float
    df: float

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(vars(self))


def welch_interval(a: Sequence[float], b: Sequence[float]) -> SeedInterval | None:
    """The interval, or None when a side has a single run (no seed spread to measure)."""
    if len(a) < 2 or len(b) < 2:
        return None
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    delta = float(xb.mean() - xa.mean())
    if va + vb == 0:
        return SeedInterval(delta, delta, float("inf"))
    df = (va + vb) ** 2 / ((va**2 / (len(xa) - 1) if va else 0.0) + (vb**2 / (len(xb) - 1) if vb else 0.0))
    half = t975(df) * float(np.sqrt(va + vb))
    return SeedInterval(delta - half, delta + half, float(df))
