"""Seed-aware comparison (issue 17 §2): the hierarchical bootstrap over runs and images, its
verdicts, ``train --seeds`` and ``compare`` across seed folders, and the comparison page.

The statistical tests use simulated runs on BCCD's validation split: a "recipe" is a noise level
(box jitter, missed objects, false alarms), a "seed" one draw of it. Runs of one recipe differ
by seed only, so a sound comparison finds no difference between two sets of them; a recipe
with twice the jitter and more misses is a weakened model, which it must find, in the right
direction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.browser import open_page
from yoloxkit.datasets import load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.errors import YoloxkitError
from yoloxkit.evaluation import Evaluator, load_ground_truth, paired_bootstrap, resolve_split, seed_bootstrap
from yoloxkit.evaluation.comparison import Comparison, Side
from yoloxkit.evaluation.inference import run_predictions
from yoloxkit.runs import expand_side, parse_seeds

from .helpers import BCCD, run


def simulated_run(gt: dict, seed: int, jitter: float, miss: float, luck_sigma: float = 0.1) -> list[dict]:
    """One "training run": each object found with probability about 1 - ``miss`` at a box jittered
    by about ``jitter`` of its size, scored higher the better it fits, plus false alarms. As with
    real seeds, each run is as a whole a little better or worse than its recipe (its jitter and
    miss rate vary by a factor drawn per seed)."""
    rng = np.random.default_rng(seed)
    luck = float(np.exp(rng.normal(0, luck_sigma)))  # this seed's quality
    jitter, miss = jitter * luck, min(miss * luck, 0.9)
    out = []
    for a in gt["annotations"]:
        if rng.random() < miss:
            continue
        x, y, w, h = a["bbox"]
        noise = rng.normal(0, jitter, 4)
        box = [x + noise[0] * w, y + noise[1] * h, w * (1 + noise[2]), h * (1 + noise[3])]
        score = float(np.clip(0.9 - 2 * np.abs(noise).mean() + rng.normal(0, 0.1), 0.01, 1))
        out.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": box, "score": score})
    cats = [c["id"] for c in gt["categories"]]
    for image in gt["images"]:
        for _ in range(2):
            w, h = rng.uniform(20, 80, 2)
            x, y = rng.uniform(0, [image["width"] - w, image["height"] - h])
            out.append({"image_id": image["id"], "category_id": int(rng.choice(cats)), "bbox": [x, y, w, h], "score": float(rng.uniform(0, 0.5))})
    return out


@pytest.fixture(scope="module")
def bccd_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Prediction files: recipe "base" with seeds 100-102 and 103-105, recipe "weak" with seeds 0-2."""
    dataset = load_dataset(BCCD)
    gt = to_coco_dict(dataset, resolve_split(dataset, "val"))
    folder = tmp_path_factory.mktemp("seed-runs")
    recipes = {"base": (range(100, 103), 0.12, 0.15), "base_again": (range(103, 106), 0.12, 0.15), "weak": (range(0, 3), 0.24, 0.3)}
    files: dict[str, list[Path]] = {}
    for name, (seeds, jitter, miss) in recipes.items():
        files[name] = []
        for seed in seeds:
            path = folder / f"{name}-{seed}.json"
            path.write_text(json.dumps(simulated_run(gt, 1000 * len(name) + seed, jitter, miss)))
            files[name].append(path)
    return files


def side(name: str, files: list[Path]) -> Side:
    gt = load_ground_truth(BCCD, "val")
    results, matches = [], []
    for path in files:
        evaluator = Evaluator(gt)
        results.append(run_predictions(evaluator, path))
        matches.append(evaluator.matches())
    return Side(name, [str(p) for p in files], results, matches)


def test_runs_of_one_recipe_are_not_called_different(bccd_runs) -> None:
    a, b = side("base", bccd_runs["base"]), side("base again", bccd_runs["base_again"])
    gt = a.results[0].gt
    comparison = Comparison.of(a, b, gt, samples=400)
    boot = comparison.boot
    assert boot.low < 0 < boot.high, boot  # measured: [-0.006, +0.083]
    assert comparison.outcome() == "same" and comparison.verdict().startswith("no significant difference")
    assert "3 seeds each" in comparison.verdict() and "seed-to-seed noise is not" not in comparison.verdict()
    # Resampling images only, the same means look "significantly" different (measured: [+0.021,
    # +0.059]): the seeds' spread is what the hierarchical interval adds.
    images_only = seed_bootstrap(a.matches, b.matches, gt, samples=400, resample_runs=False)
    assert images_only.low > 0 and images_only.delta == boot.delta
    assert boot.high - boot.low > 1.5 * (images_only.high - images_only.low)
    # One run per side would have called most seed pairs different (measured: 6 of the 9).
    singles = [paired_bootstrap(ma, mb, gt, samples=100) for ma in a.matches for mb in b.matches]
    assert sum(s.low > 0 or s.high < 0 for s in singles) >= 4


def test_a_weakened_recipe_is_found_in_the_right_direction(bccd_runs) -> None:
    a, b = side("base", bccd_runs["base"]), side("weak", bccd_runs["weak"])
    forward = Comparison.of(a, b, a.results[0].gt, samples=400)
    assert forward.boot.high < 0 and forward.outcome() == "worse"
    assert forward.verdict().startswith(f"A is better by {-forward.boot.delta:.3f} mAP50:95 (95 % CI [")
    backward = Comparison.of(b, a, a.results[0].gt, samples=400)
    assert backward.boot.low > 0 and backward.outcome() == "better" and backward.verdict().startswith("B is better by")
    assert backward.boot.delta == pytest.approx(-forward.boot.delta)
    assert backward.boot.runs_b == forward.boot.runs_a and len(forward.boot.runs_a) == 3


def test_one_run_per_side_is_the_paired_bootstrap_and_says_so(bccd_runs) -> None:
    a, b = side("base", bccd_runs["base"][:1]), side("weak", bccd_runs["weak"][:1])
    gt = a.results[0].gt
    one = seed_bootstrap(a.matches, b.matches, gt, samples=100, seed=3)
    paired = paired_bootstrap(a.matches[0], b.matches[0], gt, samples=100, seed=3)
    assert one == paired and not one.seeds_counted
    assert one.ap_a == a.results[0].coco["AP"] and one.ap_b == b.results[0].coco["AP"]  # the reported AP to the bit
    verdict = Comparison(a, b, gt, one).verdict()
    assert "one run each" in verdict and "seed-to-seed noise is not in this interval" in verdict


def test_compare_cli_over_run_lists_writes_json_and_a_page(bccd_runs, tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    a, b = ",".join(map(str, bccd_runs["base"])), ",".join(map(str, bccd_runs["weak"]))
    assert run(["compare", a, b, "--data", BCCD, "--bootstrap", "200", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "A is better by" in printed and "AP of each run of B:" in printed
    report = json.loads((out / "compare.json").read_text())
    assert report["outcome"] == "worse" and len(report["A"]["runs"]) == 3 and report["bootstrap"]["seeds_counted"]
    assert sum(report["bootstrap"]["histogram"]["counts"]) == 200
    with open_page(out / "compare.html") as page:
        assert "A is better by" in page.inner_text("#verdict .verdict")
        assert page.locator("#verdict svg.chart").count() == 1
        assert page.locator("#runs tbody tr").count() == 6
        assert page.locator("#class-table tbody tr").count() == 3
        page.click("#class-table thead th:nth-child(5)")
        deltas = [float(v) for v in page.eval_on_selector_all("#class-table tbody td:nth-child(5)", "c => c.map(x => x.dataset.v)")]
        assert deltas == sorted(deltas, reverse=True)


def test_seed_lists_and_run_folders(tmp_path) -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5] and parse_seeds("7") == [7]
    for bad in ("", "a", "1,1", "-1", "2-x"):
        with pytest.raises(YoloxkitError, match="--seeds"):
            parse_seeds(bad)
    multi = tmp_path / "multi"
    for seed, name in ((10, "best.pt"), (2, "last.pt")):
        (multi / f"seed-{seed}").mkdir(parents=True)
        (multi / f"seed-{seed}" / name).write_bytes(b"x")
    (multi / "seed-notes").mkdir()
    assert expand_side(str(multi)) == [str(multi / "seed-2" / "last.pt"), str(multi / "seed-10" / "best.pt")]
    assert expand_side(f"{multi / 'seed-10'}, yolox-s") == [str(multi / "seed-10" / "best.pt"), "yolox-s"]
    with pytest.raises(YoloxkitError, match="not a finished training run"):
        expand_side(str(tmp_path / "multi" / "seed-notes"))
