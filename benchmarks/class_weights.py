"""Class-imbalance weighting, label smoothing and copy-paste on real training runs (issue 19 §1, §4): do they help a rare class?

yolox-nano is trained from scratch with the learning test's short recipe (tests/train/test_learning.py)
on ``yoloxkit data synth`` data where the last of 4 classes is rare (``--class-share 1,1,1,0.1``:
about 3 % of the objects), once per seed and option: the plain loss, inverse-frequency class
weights (power 0.5), effective-number weights (beta 0.999), label smoothing 0.1, the
existing repeat-factor sampler for comparison, and box-only copy-paste (``--options`` picks
some; copy-paste with probability 0.5, class-balanced, hard box or soft elliptical mask). Each run's checkpoint is evaluated on a held-out
BALANCED synthetic split (every class as frequent, so the rare class's AP is measured on as many
objects as the others'). Reported per option: the rare class's AP50:95, the mean over all
classes, and their differences to the plain loss per seed, as a mean with a 95 % t-interval over
the seeds, and ``yoloxkit compare``'s judgement of the mAP difference (bootstrap over seeds and
images, Welch's t-interval, verdict; ``compare_mAP``). ``ratio`` = mean rare-class AP with the
second option / with the plain loss.

    python benchmarks/class_weights.py --json benchmarks/results/class_weights.json
    python benchmarks/class_weights.py --options plain,copy_paste,copy_paste_ellipse --json benchmarks/results/copy_paste.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, compared, evaluated_side, interval, learning_run, machine, parallel_runs, quality_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

OPTIONS = {
    "plain": [],
    "inverse": ["loss.class_weights=inverse", "loss.power=0.5"],
    "effective": ["loss.class_weights=effective", "loss.beta=0.999"],
    "smoothing": ["loss.label_smoothing=0.1"],
    "repeat_factor": ["loader.sampling=repeat_factor"],
    "copy_paste": ["augment.copy_paste_prob=0.5"],
    "copy_paste_ellipse": ["augment.copy_paste_prob=0.5", "augment.copy_paste_mask=ellipse"],
}
DEFAULT_OPTIONS = "plain,inverse,effective,smoothing,repeat_factor"
SHARE = [1.0, 1.0, 1.0, 0.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--options", default=DEFAULT_OPTIONS, help=f"comma-separated, from {', '.join(OPTIONS)} (plain first)")
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=16, seeds=1)
    chosen = {name: OPTIONS[name] for name in args.options.split(",")}
    if next(iter(chosen)) != "plain":
        parser.error("--options must start with plain (the baseline)")
    from tests.train.test_learning import DATA, make_data
    from yoloxkit import Detector
    from yoloxkit.evaluation import load_ground_truth

    settings = DATA | {"images": args.images}
    with tempfile.TemporaryDirectory(prefix="class_weights_") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", seed=0, class_share=SHARE, **settings)
        test = make_data(folder / "test", seed=100, **(settings | {"images": max(args.images // 2, 8), "val_fraction": 1.0}))
        jobs = [(str(data), str(folder / name / f"seed-{s}"), args.epochs, s, None, extra) for name, extra in chosen.items() for s in range(args.seeds)]
        checkpoints, minutes = parallel_runs(learning_run, jobs)
        gt = load_ground_truth(test, "val")
        rare = gt.names[-1]
        sides = {name: evaluated_side(name, [Detector.from_checkpoint(c) for c, job in zip(checkpoints, jobs) if Path(job[1]).parent.name == name], gt)
                 for name in chosen}  # fmt: skip
        scores = {name: [(float(np.nan_to_num(dict(zip(r.names, r.per_class["AP"]))[rare])), r.coco["AP"]) for r in side.results]
                  for name, side in sides.items()}  # fmt: skip
    plain = scores["plain"]
    report: dict = {"options": {}, "setup": {"epochs": args.epochs, "images": args.images, "seeds": args.seeds, "class_share": SHARE,
                                             "rare_class": rare, "train_minutes": minutes, "test_images": gt.num_images, "test": "balanced, seed 100"}}  # fmt: skip
    print(f"{len(jobs)} runs trained in {minutes:.1f} min; balanced held-out split: {gt.num_images} images; rare class {rare}")
    print(f"{'option':14s} {'rare AP':>8s} {'gain [95% CI]':>26s} {'mAP':>7s} {'gain [95% CI]':>26s}")
    for name, values in scores.items():
        rare_gain = interval([v[0] - p[0] for v, p in zip(values, plain)])
        all_gain = interval([v[1] - p[1] for v, p in zip(values, plain)])
        report["options"][name] = {"overrides": chosen[name], "rare_AP50_95": [v[0] for v in values], "mAP50_95": [v[1] for v in values],
                                   "rare_gain": rare_gain, "mAP_gain": all_gain}  # fmt: skip
        if name != "plain":
            report["options"][name]["compare_mAP"] = compared(sides["plain"], sides[name], gt)
        print(f"{name:14s} {np.mean([v[0] for v in values]):8.4f} {rare_gain[0]:+.4f} [{rare_gain[1]:+.4f}, {rare_gain[2]:+.4f}] "
              f"{np.mean([v[1] for v in values]):7.4f} {all_gain[0]:+.4f} [{all_gain[1]:+.4f}, {all_gain[2]:+.4f}]")  # fmt: skip
        if name != "plain":
            print(f"{'':14s} compare: {report['options'][name]['compare_mAP']['verdict']}")
    base = float(np.mean([v[0] for v in plain]))
    second = list(chosen)[1] if len(chosen) > 1 else "plain"
    report["ratio"] = quality_ratio(float(np.mean([v[0] for v in scores[second]])), base)
    report["ratio_is"] = f"mean rare-class AP50:95 with {second} / plain, over the seeds"
    report["provenance"] = machine(threads=1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
