"""Seed-aware comparison on real training runs (issue 17 §2): does ``yoloxkit compare`` call two
sets of seeds of one recipe the same, and a weakened recipe worse?

yolox-nano is trained from scratch on ``yoloxkit data synth`` data with the learning test's short
recipe (tests/train/test_learning.py): recipe "full" with seeds 0-2 and again with seeds 3-5,
recipe "half" (half the epochs) with seeds 0-2; two runs at a time, one thread each. Every run's
best checkpoint is scored on a held-out split (the validation split of another synthetic draw)
and the sides are compared as ``yoloxkit compare`` does (bootstrap over seeds, then images). Also
reported: what one run per side (the paired image bootstrap) says for each of the 9 seed pairs of
the same recipe. ``ratio`` = width of the seed-aware interval / mean width of the single-run ones
(same recipe).

    python benchmarks/seed_compare.py --json benchmarks/results/seed_compare.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, learning_run, machine, parallel_runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=2, images=16, seeds=2, bootstrap=50)
    from tests.train.test_learning import DATA, make_data
    from yoloxkit import Detector
    from yoloxkit.evaluation import Evaluator, load_ground_truth, paired_bootstrap
    from yoloxkit.evaluation.comparison import Comparison, Side
    from yoloxkit.evaluation.inference import run_evaluation

    settings = DATA | {"images": args.images}
    recipes = {"full": (args.epochs, range(args.seeds)), "full_again": (args.epochs, range(args.seeds, 2 * args.seeds)),
               "half": (max(1, args.epochs // 2), range(args.seeds))}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="seed_compare_") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", seed=0, **settings)
        test = make_data(folder / "test", seed=100, **settings)
        jobs = [(str(data), str(folder / name / f"seed-{s}"), epochs, s, None, ()) for name, (epochs, seeds) in recipes.items() for s in seeds]
        checkpoints, minutes = parallel_runs(learning_run, jobs)
        gt = load_ground_truth(test, "val")
        sides: dict[str, Side] = {}
        for name in recipes:
            runs = [c for c, job in zip(checkpoints, jobs) if Path(job[1]).parent.name == name]
            results, matches = [], []
            for checkpoint in runs:
                evaluator = Evaluator(gt)
                results.append(run_evaluation(evaluator, Detector.from_checkpoint(checkpoint), 0.001, 0.65, 8, progress=False))
                matches.append(evaluator.matches())
            sides[name] = Side(name, runs, results, matches)
    same = Comparison.of(sides["full"], sides["full_again"], gt, args.bootstrap)
    weaker = Comparison.of(sides["full"], sides["half"], gt, args.bootstrap)
    singles = [paired_bootstrap(a, b, gt, args.bootstrap) for a in sides["full"].matches for b in sides["full_again"].matches]
    called = sum(s.low > 0 or s.high < 0 for s in singles)
    single_width = float(np.mean([s.high - s.low for s in singles]))
    ratio = (same.boot.high - same.boot.low) / single_width if single_width > 0 else None
    print(f"{len(jobs)} runs trained in {minutes:.1f} min; held-out split: {gt.num_images} images")
    for name, side in sides.items():
        print(f"{name:11s} AP per seed: " + ", ".join(f"{r.coco['AP']:.4f}" for r in side.results))
    print(f"same recipe, other seeds:   {same.verdict()}")
    print(f"half the epochs:            {weaker.verdict()}")
    print(f"one run per side, same recipe: {called} of {len(singles)} seed pairs called different; "
          f"interval width seed-aware / single-run {ratio}")  # fmt: skip
    if args.json:
        report = {
            "ratio": ratio,
            "ratio_is": "95 % interval width, seed-aware (3 seeds each) / mean of the single-run paired intervals (same recipe)",
            "same_recipe": same.to_dict(),
            "half_epochs": weaker.to_dict(),
            "single_run_pairs": {"called_different": called, "pairs": len(singles),
                                 "intervals": [[s.low, s.high] for s in singles]},  # fmt: skip
            "setup": {"epochs": args.epochs, "images": args.images, "seeds": args.seeds, "bootstrap": args.bootstrap,
                      "train_minutes": minutes, "recipe": "tests/train/test_learning.py SETTINGS", "test_data_seed": 100},  # fmt: skip
            "provenance": machine(threads=1),
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
