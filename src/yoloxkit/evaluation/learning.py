"""Learning curves: how AP grows with labelled objects, and how many more a class needs.

Per class, the AP measured after training on nested subsets (``n`` = the class's labelled objects
in the subset) is fitted with the saturating power law

    AP(n) = A - B * n ** (-c),   0 <= A <= 1, B >= 0, c in [0.05, 2]

by least squares (``c`` on a grid, ``A`` and ``B`` exactly for each ``c``). The objects needed
for a target AP ``T`` are ``n_T = (B / (A - T)) ** (1 / c)`` when the asymptote ``A`` exceeds
``T``, else the target is out of reach of this curve. The interval comes from a bootstrap over
the training runs (each subset size keeps its number of runs, drawn with replacement among its
seeds): the 2.5 and 97.5 percentiles of ``n_T``, with runs whose curve never reaches ``T`` counted
as infinitely many objects. The verdict is "cannot tell" when fewer than three subset sizes have
a measurement, when no run reached AP 0.01 (nothing was learnt), or when the interval's upper end is infinite while its lower end is finite (some
resamples reach the target, others do not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Exponents tried for ``c``.
EXPONENTS = np.round(np.arange(0.05, 2.0001, 0.05), 4)
DEFAULT_RESAMPLES = 500
#: Below this AP in every run, a class's curve says nothing.
MIN_AP = 0.01


@dataclass(frozen=True)
class PowerLaw:
    """``AP(n) = asymptote - scale * n ** (-exponent)``."""

    asymptote: float
    scale: float
    exponent: float

    def __call__(self, n: np.ndarray | float) -> np.ndarray:
        return self.asymptote - self.scale * np.power(np.maximum(np.asarray(n, dtype=np.float64), 1e-9), -self.exponent)

    def needed(self, target: float) -> float:
        """Objects needed to reach ``target`` AP (``inf`` when the asymptote is not above it)."""
        if self.asymptote <= target:
            return float("inf")
        if self.scale <= 0:
            return 0.0
        return float((self.scale / (self.asymptote - target)) ** (1.0 / self.exponent))


def fit_power_law(n: Sequence[float], ap: Sequence[float]) -> PowerLaw:
    """Least-squares fit of :class:`PowerLaw` to objects ``n`` (> 0) and APs ``ap``."""
    n, ap = np.asarray(n, dtype=np.float64), np.asarray(ap, dtype=np.float64)
    best: tuple[float, PowerLaw] | None = None
    for c in EXPONENTS:
        x = -np.power(n, -c)  # AP = A + B * x
        design = np.stack([np.ones_like(x), x], 1)
        (a, b), *_ = np.linalg.lstsq(design, ap, rcond=None)
        if b < 0:  # AP must not fall with more labels: a flat line at the mean
            a, b = float(ap.mean()), 0.0
        a = float(np.clip(a, 0.0, 1.0))
        b = float(max(0.0, np.dot(x, ap - a) / np.dot(x, x))) if b > 0 else 0.0
        law = PowerLaw(a, b, float(c))
        error = float(((law(n) - ap) ** 2).sum())
        if best is None or error < best[0] - 1e-12:
            best = (error, law)
    return best[1]


@dataclass
class ClassCurve:
    """One class's measurements, fit and objects needed for the target (with its interval)."""

    name: str
    objects: list[float]  # labelled objects of the class in each run's subset
    ap: list[float]  # AP50:95 of each run
    fit: PowerLaw | None
    have: float  # objects in the whole training split
    target: float
    needed: float | None  # objects for the target (inf: out of reach; None: cannot tell)
    interval: tuple[float, float] | None
    verdict: str

    @property
    def more(self) -> float | None:
        """Objects still to label (``needed - have``; 0 when reached)."""
        if self.needed is None or not np.isfinite(self.needed):
            return self.needed
        return max(0.0, self.needed - self.have)

    def to_dict(self) -> dict:
        def plain(value: float | None) -> float | str | None:
            return None if value is None else ("inf" if not np.isfinite(value) else float(value))

        return {
            "class": self.name, "objects": self.objects, "ap": self.ap, "have": self.have, "target": self.target,
            "fit": None if self.fit is None else {"asymptote": self.fit.asymptote, "scale": self.fit.scale, "exponent": self.fit.exponent},
            "needed": plain(self.needed), "more": plain(self.more),
            "interval": None if self.interval is None else [plain(v) for v in self.interval], "verdict": self.verdict,
        }  # fmt: skip


def class_curve(
    name: str, sizes: Sequence[int], objects: Sequence[float], ap: Sequence[float], have: float, target: float,
    resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
) -> ClassCurve:  # fmt: skip
    """Fit one class; ``sizes[i]`` is run i's subset size (runs of equal size are seeds of one subset size)."""
    sizes, n, y = np.asarray(sizes), np.asarray(objects, dtype=np.float64), np.asarray(ap, dtype=np.float64)
    usable = (n > 0) & np.isfinite(y)
    levels = np.unique(sizes[usable])
    if len(levels) < 3:
        return ClassCurve(name, n.tolist(), y.tolist(), None, have, target, None, None,
                          f"cannot tell: measured at {len(levels)} subset sizes, 3 needed")  # fmt: skip
    if y[usable].max() < MIN_AP:
        return ClassCurve(name, n.tolist(), y.tolist(), None, have, target, None, None,
                          f"cannot tell: every run's AP is below {MIN_AP:g} (the runs learnt (almost) nothing: train longer)")  # fmt: skip
    law = fit_power_law(n[usable], y[usable])
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(usable & (sizes == level)) for level in levels]
    draws = []
    for _ in range(resamples):
        picked = np.concatenate([rng.choice(g, len(g)) for g in groups])
        draws.append(fit_power_law(n[picked], y[picked]).needed(target))
    low, high = (float(v) for v in np.percentile(np.array(draws), [2.5, 97.5], method="lower"))
    needed = law.needed(target)
    if np.isfinite(low) and not np.isfinite(high):
        verdict = f"cannot tell: some resamples reach AP {target:g} (from {low:.0f} objects), others never"
        return ClassCurve(name, n.tolist(), y.tolist(), law, have, target, None, (low, high), verdict)
    if not np.isfinite(needed):
        verdict = f"out of reach: the curve levels off at AP {law.asymptote:.3f} < {target:g} (more labels of this kind will not get there)"
    elif needed <= have:
        verdict = f"reached: AP {target:g} needs about {needed:.0f} objects, the split has {have:.0f}"
    else:
        verdict = f"needs about {needed - have:.0f} more objects ({needed:.0f} in all, 95 % interval {low:.0f}-{high:.0f}); the split has {have:.0f}"
    return ClassCurve(name, n.tolist(), y.tolist(), law, have, target, needed, (low, high), verdict)


def most_in_need(curves: Sequence[ClassCurve]) -> list[str]:
    """Classes ordered by the objects they still need (out of reach first, then most needed; reached and undecided last)."""

    def key(curve: ClassCurve) -> tuple[int, float]:
        more = curve.more
        if more is None:
            return (2, 0.0)
        if not np.isfinite(more):
            return (0, 0.0)
        return (1, -more) if more > 0 else (3, 0.0)

    return [curve.name for curve in sorted(curves, key=key) if key(curve)[0] in (0, 1)]
