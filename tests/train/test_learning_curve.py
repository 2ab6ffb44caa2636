"""``yoloxkit learning-curve`` (issue 18 §3): the power-law fit and its verdicts, nested stratified
subsets, the class with far fewer labels flagged first, and the command end to end with its page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.browser import open_page
from yoloxkit.cli import main
from yoloxkit.errors import YoloxkitError
from yoloxkit.evaluation.learning import PowerLaw, class_curve, fit_power_law, most_in_need
from yoloxkit.train.learning_curve import nested_order, parse_fractions

LAW = PowerLaw(0.85, 2.0, 0.5)  # one detector's AP against labelled objects, for every class


def test_the_fit_recovers_a_known_curve_and_its_objects_needed() -> None:
    n = np.repeat([20.0, 40.0, 80.0, 160.0], 2)
    ap = LAW(n) + np.random.default_rng(0).normal(0, 0.005, len(n))
    fit = fit_power_law(n, ap)
    assert abs(fit.asymptote - 0.85) < 0.05 and abs(fit.needed(0.7) - LAW.needed(0.7)) / LAW.needed(0.7) < 0.25
    assert PowerLaw(0.6, 1.0, 0.5).needed(0.7) == float("inf") and PowerLaw(0.9, 0.0, 0.5).needed(0.7) == 0.0


def simulated(have: float, fractions=(0.125, 0.25, 0.5, 1.0), seeds=2, noise=0.01, seed=0) -> tuple[list, list, list]:
    rng = np.random.default_rng(seed)
    sizes, objects, ap = [], [], []
    for k, f in enumerate(fractions):
        for _ in range(seeds):
            sizes.append(k)
            objects.append(have * f)
            ap.append(float(LAW(have * f) + rng.normal(0, noise)))
    return sizes, objects, ap


def test_the_class_with_far_fewer_labels_is_flagged_first() -> None:
    """Classes that follow one curve, labelled 400, 300 and 25 times: only the rare one needs more."""
    curves = [class_curve(name, *simulated(have, seed=k), have=have, target=0.7) for k, (name, have) in enumerate([("common", 400), ("usual", 300), ("rare", 25)])]
    assert most_in_need(curves) == ["rare"]
    rare = curves[2]
    assert rare.verdict.startswith("needs about") and rare.more > 25 and rare.interval[0] <= rare.needed <= rare.interval[1]
    assert curves[0].verdict.startswith("reached")


def test_verdicts_say_when_the_data_cannot_tell() -> None:
    two_sizes = class_curve("x", *simulated(100, fractions=(0.5, 1.0)), have=100, target=0.5)
    assert two_sizes.needed is None and two_sizes.verdict.startswith("cannot tell: measured at 2 subset sizes")
    flat = class_curve("flat", [0, 1, 2], [10, 20, 40], [0.3, 0.31, 0.3], have=40, target=0.7)
    assert flat.needed == float("inf") and flat.verdict.startswith("out of reach") and most_in_need([flat]) == ["flat"]
    nothing = class_curve("nothing", [0, 1, 2], [10, 20, 40], [0.0, 0.002, 0.0], have=40, target=0.5)
    assert nothing.needed is None and "learnt (almost) nothing" in nothing.verdict
    noisy = class_curve("noisy", *simulated(50, noise=0.2, seed=3), have=50, target=0.8)
    assert noisy.verdict.startswith(("cannot tell", "out of reach", "needs about"))


def test_nested_order_keeps_the_rare_class_in_every_prefix() -> None:
    rng = np.random.default_rng(1)
    images = [[0, 1] if rng.random() < 0.5 else [1] for _ in range(190)] + [[2]] * 10
    order = nested_order(images, seed=0)
    assert sorted(order.tolist()) == list(range(200))
    for size in (25, 50, 100):
        rare = sum(2 in images[i] for i in order[:size])
        assert abs(rare - size * 10 / 200) <= 1.0, (size, rare)
    assert not np.array_equal(order, nested_order(images, seed=1))


def test_bad_fractions_are_one_line_errors() -> None:
    assert parse_fractions("1,0.25,0.5") == [0.25, 0.5, 1.0]
    for bad in ("0.5", "0,1", "0.5,1.5", "a,b"):
        with pytest.raises(YoloxkitError, match="--fractions"):
            parse_fractions(bad)


def test_the_command_trains_nested_subsets_and_writes_its_page(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(SystemExit) as done:
        main(["data", "synth", "--out", str(data), "--images", "24", "--classes", "3", "--size", "64", "--class-share", "1,1,0.2"])
    assert not done.value.code
    out = tmp_path / "curve"
    argv = ["learning-curve", "--data", str(data), "--fractions", "0.25,0.5,1", "--seeds", "0", "--epochs", "1", "--batch", "4",
            "--size", "64", "--out", str(out), "--set", "loader.workers=0", "--set", "log.progress=false", "--set", "log.plots=false",
            "--set", "log.report=false", "--set", "val.interval=1"]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert not done.value.code
    record = json.loads((out / "learning_curve.json").read_text())
    assert [r["images"] for r in record["runs"]] == [5, 10, 19]  # 19 training images (20 % val), nested subsets
    assert [c["class"] for c in record["classes"]] == ["red-rectangle", "red-ellipse", "red-triangle"]
    assert (out / "learning_curve.csv").read_text().startswith("class,have,")
    assert sorted(p.name for p in out.glob("frac-*")) == ["frac-0.25-seed-0", "frac-0.5-seed-0", "frac-1-seed-0"]
    with open_page(out / "report.html") as page:
        assert page.locator("#class-table tbody tr").count() == 3
        assert page.locator("#curves svg.chart").count() == 3
