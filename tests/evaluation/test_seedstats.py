"""The seed-level guard of comparisons: Student t quantiles, Welch's interval, and a verdict that
refuses a bootstrap-only "difference" made by one failed seed of three."""

from __future__ import annotations

import numpy as np
import pytest

from yoloxkit.evaluation.bootstrap import BootstrapResult
from yoloxkit.evaluation.comparison import Comparison, Side
from yoloxkit.evaluation.seedstats import t975, welch_interval


@pytest.mark.parametrize("df, expected", [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042), (1e9, 1.960)])
def test_t_quantiles(df: float, expected: float) -> None:
    assert t975(df) == pytest.approx(expected, abs=2e-3)
    assert t975(2.5) < t975(2) and t975(2.5) > t975(3)  # between the table's entries


def test_welch_interval_by_hand() -> None:
    a, b = [0.20, 0.24, 0.22], [0.30, 0.26, 0.31, 0.29]
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    half = t975(df) * np.sqrt(va + vb)
    got = welch_interval(a, b)
    assert got.df == pytest.approx(df) and got.low == pytest.approx(np.mean(b) - np.mean(a) - half)
    assert welch_interval([0.3], b) is None


def _comparison(runs_a: list[float], runs_b: list[float], low: float, high: float) -> Comparison:
    delta = float(np.mean(runs_b) - np.mean(runs_a))
    boot = BootstrapResult(float(np.mean(runs_a)), float(np.mean(runs_b)), delta, low, high, 0.0, 1000, 0, runs_a, runs_b)
    side = lambda runs: Side("x", [f"run{i}" for i in range(len(runs))], [], [])  # noqa: E731
    return Comparison(side(runs_a), side(runs_b), None, boot)


def test_one_failed_seed_of_three_is_not_a_difference() -> None:
    """Measured with real runs (benchmarks/seed_compare.py): the bootstrap alone called runs of one
    recipe different because one of A's three seeds failed."""
    comparison = _comparison([0.0251, 0.1950, 0.2632], [0.2942, 0.2855, 0.2716], 0.021, 0.245)
    assert comparison.outcome() == "same"
    assert "the bootstrap's 95 % CI [+0.021, +0.245] excludes 0, but the spread between seeds does not" in comparison.verdict()
    assert comparison.verdict().endswith("add seeds")
    consistent = _comparison([0.20, 0.21, 0.22], [0.29, 0.28, 0.30], 0.05, 0.11)
    assert consistent.outcome() == "better" and consistent.verdict().startswith("B is better by 0.080")
    assert _comparison([0.29, 0.28, 0.30], [0.20, 0.21, 0.22], -0.11, -0.05).outcome() == "worse"
    single = _comparison([0.2], [0.3], 0.01, 0.2)  # one run per side: the bootstrap decides alone
    assert single.outcome() == "better" and "seed-to-seed noise is not in this interval" in single.verdict()
