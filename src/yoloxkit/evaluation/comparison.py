"""Two sides, each one run or several seeds of a recipe, on one split: numbers, per-class
differences and a plain verdict backed by the bootstrap of :mod:`~yoloxkit.evaluation.bootstrap`
and, with several seeds, the seed-level t-interval of :mod:`~yoloxkit.evaluation.seedstats`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bootstrap import BootstrapResult, seed_bootstrap
from .groundtruth import GroundTruth
from .matching import CocoMatches
from .result import EvaluationResult
from .seedstats import SeedInterval, welch_interval

SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")


@dataclass
class Side:
    """One side of a comparison: its name as given, its runs and their evaluations."""

    name: str
    runs: list[str]
    results: list[EvaluationResult]
    matches: list[CocoMatches]


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _mean_coco(side: Side) -> dict[str, float]:
    return {k: float(np.mean([r.coco[k] for r in side.results])) for k in side.results[0].coco}


@dataclass
class Comparison:
    """A against B: mean COCO numbers over each side's runs, per-class AP differences, the bootstrap."""

    a: Side
    b: Side
    gt: GroundTruth
    boot: BootstrapResult

    @classmethod
    def of(cls, a: Side, b: Side, gt: GroundTruth, samples: int = 1000, seed: int = 0) -> Comparison:
        """Compare ``a`` and ``b`` (``samples`` bootstrap resamples drawn from ``seed``)."""
        return cls(a, b, gt, seed_bootstrap(a.matches, b.matches, gt, samples, seed))

    def coco(self) -> dict[str, dict[str, float]]:
        """Each COCO number: mean over A's runs, over B's runs, and B - A."""
        ma, mb = _mean_coco(self.a), _mean_coco(self.b)
        return {k: {"A": ma[k], "B": mb[k], "delta": mb[k] - ma[k]} for k in ma}

    def per_class(self) -> list[dict]:
        """Per-class AP (mean over each side's runs) and B - A; None where a class has no objects."""
        rows_a = [r.class_rows() for r in self.a.results]
        rows_b = [r.class_rows() for r in self.b.results]
        out = []
        for k, name in enumerate(self.gt.names):
            ap_a, ap_b = _mean([rows[k]["AP"] for rows in rows_a]), _mean([rows[k]["AP"] for rows in rows_b])
            delta = None if ap_a is None or ap_b is None else ap_b - ap_a
            out.append({"name": name, "objects": rows_a[0][k]["instances"], "AP_A": ap_a, "AP_B": ap_b, "delta": delta})
        return out

    @property
    def seed_interval(self) -> SeedInterval | None:
        """Welch's t-interval on the runs' APs (None with one run on a side)."""
        return welch_interval(self.boot.runs_a, self.boot.runs_b)

    def outcome(self) -> str:
        """``better``, ``worse`` (B against A) or ``same``: significant only when the bootstrap
        interval and, with several seeds, the seed t-interval both exclude 0."""
        boot, seeds = self.boot, self.seed_interval
        if boot.low > 0 and (seeds is None or seeds.low > 0):
            return "better"
        if boot.high < 0 and (seeds is None or seeds.high < 0):
            return "worse"
        return "same"

    def runs_phrase(self) -> str:
        """``3 seeds each`` / ``3 and 2 runs`` / ``one run each``."""
        na, nb = len(self.a.runs), len(self.b.runs)
        if na == nb:
            return "one run each" if na == 1 else f"{na} seeds each"
        return f"{na} and {nb} runs"

    def verdict(self) -> str:
        """One sentence: which side is better on COCO AP (0.50:0.95) and how sure the comparison is."""
        boot, seeds, outcome = self.boot, self.seed_interval, self.outcome()
        interval = f"95 % CI [{boot.low:+.3f}, {boot.high:+.3f}]"
        basis = f"{self.runs_phrase()}, {boot.samples:,} resamples"
        if outcome == "better":
            text = f"B is better by {boot.delta:.3f} mAP50:95 ({interval}, {basis})"
        elif outcome == "worse":
            text = f"A is better by {-boot.delta:.3f} mAP50:95 ({interval}, {basis})"
        elif boot.low > 0 or boot.high < 0:  # the bootstrap alone would call it; the seeds do not
            text = (
                f"no significant difference: B - A = {boot.delta:+.3f} mAP50:95; the bootstrap's {interval} excludes 0, "
                f"but the spread between seeds does not (t-interval [{seeds.low:+.3f}, {seeds.high:+.3f}]; {basis}): add seeds"
            )
        else:
            text = f"no significant difference: B - A = {boot.delta:+.3f} mAP50:95 ({interval} contains 0; {basis})"
        if not boot.seeds_counted:
            text += "; one run per side, so seed-to-seed noise is not in this interval (train with --seeds and compare the runs)"
        return text

    def to_dict(self) -> dict:
        """``compare.json``."""
        return {
            "A": {"name": self.a.name, "runs": self.a.runs}, "B": {"name": self.b.name, "runs": self.b.runs},
            "images": self.gt.num_images, "objects": int((~self.gt.crowd).sum()),
            "coco": self.coco(), "bootstrap": self.boot.to_dict(),
            "seed_interval": self.seed_interval.to_dict() if self.seed_interval else None,
            "verdict": self.verdict(), "outcome": self.outcome(),
            "per_class": self.per_class(),
        }  # fmt: skip

    def text(self) -> str:
        """The printed comparison: runs, summary numbers, verdict and per-class deltas (largest first)."""
        lines = [f"A: {self.a.name} ({len(self.a.runs)} run{'s' if len(self.a.runs) > 1 else ''})",
                 f"B: {self.b.name} ({len(self.b.runs)} run{'s' if len(self.b.runs) > 1 else ''})",
                 f"{self.gt.num_images} images, {int((~self.gt.crowd).sum())} objects", ""]  # fmt: skip
        if self.boot.seeds_counted:
            for label, runs in (("A", self.boot.runs_a), ("B", self.boot.runs_b)):
                lines.append(f"AP of each run of {label}: " + ", ".join(f"{v:.4f}" for v in runs))
            lines.append("")
        coco = self.coco()
        lines.append(f"{'metric':<8}{'A':>9}{'B':>9}{'B - A':>10}")
        lines += [f"{k:<8}{coco[k]['A']:>9.4f}{coco[k]['B']:>9.4f}{coco[k]['delta']:>+10.4f}" for k in SUMMARY_KEYS]
        lines += ["", self.verdict(), f"B does not beat A in {100 * self.boot.share_not_better:.1f} % of the resamples"]
        if self.seed_interval is not None:
            t = self.seed_interval
            lines.append(f"seed-level t-interval of the difference (Welch, {t.df:.1f} degrees of freedom): [{t.low:+.4f}, {t.high:+.4f}]")
        lines.append("")
        rows = [r for r in self.per_class() if r["delta"] is not None]
        rows.sort(key=lambda r: -abs(r["delta"]))
        width = max([len("class"), *(len(r["name"]) for r in rows)])
        lines.append(f"{'class':<{width}}{'AP A':>9}{'AP B':>9}{'B - A':>10}")
        lines += [f"{r['name']:<{width}}{r['AP_A']:>9.4f}{r['AP_B']:>9.4f}{r['delta']:>+10.4f}" for r in rows]
        return "\n".join(lines)
