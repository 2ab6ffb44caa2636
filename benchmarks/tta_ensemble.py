"""Test-time augmentation and ensembles on real training runs (issue 19 §2-3): what they gain, what they cost.

yolox-nano is trained from scratch on ``yoloxkit data synth`` data with the learning test's short
recipe (tests/train/test_learning.py), one run per seed (two at a time, one thread each). Each
run's checkpoint is evaluated on a held-out split (the validation split of another synthetic
draw, COCO mAP at the reference's test settings) plain and with each TTA setting; the runs
together are evaluated as one ensemble (weighted box fusion). Reported per setting: mAP50:95 and
mAP50 minus the plain model's, per seed and as mean with a 95 % t-interval over the seeds, and the
time per image as a multiple of the plain model's; with each, ``yoloxkit compare``'s judgement of the
mAP50:95 difference (bootstrap over seeds and images, Welch's t-interval, verdict: ``compare_mAP``;
the ensemble, one model, against its members over images only). ``ratio`` = mean mAP50:95 of the default TTA
(flip, fused) / mean plain mAP50:95.

    python benchmarks/tta_ensemble.py --json benchmarks/results/tta_ensemble.json
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

SETTINGS = {  # name -> TTA arguments (None: the plain model)
    "plain": None,
    "flip_wbf": {"flip": True, "merge": "wbf"},
    "flip_nms": {"flip": True, "merge": "nms"},
    "scales_flip_wbf": {"flip": True, "merge": "wbf", "scales": (0.83, 1.0, 1.17)},
    "scales_flip_nms": {"flip": True, "merge": "nms", "scales": (0.83, 1.0, 1.17)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)  # the learning test's recipe
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=16, seeds=1)
    import torch

    from tests.train.test_learning import DATA, make_data
    from yoloxkit import Detector
    from yoloxkit.evaluation import load_ground_truth
    from yoloxkit.tta import TTA

    torch.set_num_threads(1)
    settings = DATA | {"images": args.images}
    with tempfile.TemporaryDirectory(prefix="tta_ensemble_") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", seed=0, **settings)
        test = make_data(folder / "test", seed=100, **settings)
        jobs = [(str(data), str(folder / f"seed-{s}"), args.epochs, s, None, ()) for s in range(args.seeds)]
        checkpoints, minutes = parallel_runs(learning_run, jobs)
        gt = load_ground_truth(test, "val")
        members = [Detector.from_checkpoint(c) for c in checkpoints]
        sides = {name: evaluated_side(name, [m.with_tta(TTA(**options)) if options else m for m in members], gt) for name, options in SETTINGS.items()}
        sides["ensemble"] = evaluated_side("ensemble", [Detector.ensemble(members)], gt)
        sides["ensemble_tta"] = evaluated_side("ensemble_tta", [Detector.ensemble(members).with_tta(TTA())], gt)

    def score(side) -> list[tuple[float, float, float]]:  # noqa: ANN001 - a comparison Side
        return [(r.coco["AP"], r.coco["AP50"], r.speed["total_ms"]) for r in side.results]

    runs = {name: score(sides[name]) for name in SETTINGS}
    ensemble, ensemble_tta = score(sides["ensemble"])[0], score(sides["ensemble_tta"])[0]
    plain = runs["plain"]
    report: dict = {"settings": {}, "setup": {"epochs": args.epochs, "images": args.images, "seeds": args.seeds, "train_minutes": minutes,
                                              "recipe": "tests/train/test_learning.py SETTINGS", "test_data_seed": 100, "test_images": gt.num_images}}  # fmt: skip
    print(f"{len(jobs)} runs trained in {minutes:.1f} min; held-out split: {gt.num_images} images")
    print(f"{'setting':18s} {'mAP50:95':>9s} {'gain [95% CI over seeds]':>30s} {'mAP50 gain':>11s} {'time':>6s}")
    for name, scores in runs.items():
        gain = interval([s[0] - p[0] for s, p in zip(scores, plain)])
        gain50 = interval([s[1] - p[1] for s, p in zip(scores, plain)])
        cost = float(np.mean([s[2] / p[2] for s, p in zip(scores, plain)]))
        report["settings"][name] = {"mAP50_95": [s[0] for s in scores], "mAP50": [s[1] for s in scores], "ms_per_image": [s[2] for s in scores],
                                    "gain_mAP50_95": gain, "gain_mAP50": gain50, "time_multiple": cost}  # fmt: skip
        if name != "plain":
            report["settings"][name]["compare_mAP"] = compared(sides["plain"], sides[name], gt)
        print(f"{name:18s} {np.mean([s[0] for s in scores]):9.4f} {gain[0]:+.4f} [{gain[1]:+.4f}, {gain[2]:+.4f}] {gain50[0]:+11.4f} {cost:5.2f}x")
        if name != "plain":
            print(f"{'':18s} compare: {report['settings'][name]['compare_mAP']['verdict']}")
    best_member = max(plain, key=lambda s: s[0])
    for name, (ap, ap50, ms) in {"ensemble": ensemble, "ensemble_tta": ensemble_tta}.items():
        report[name] = {"mAP50_95": ap, "mAP50": ap50, "ms_per_image": ms, "best_member_mAP50_95": best_member[0], "compare_mAP": compared(sides["plain"], sides[name], gt),
                        "mean_member_mAP50_95": float(np.mean([s[0] for s in plain])), "time_multiple_of_one_member": ms / float(np.mean([s[2] for s in plain]))}  # fmt: skip
        print(f"{name} of {len(members)}: mAP50:95 {ap:.4f} (best member {best_member[0]:.4f}, mean {report[name]['mean_member_mAP50_95']:.4f}), "
              f"mAP50 {ap50:.4f}, {report[name]['time_multiple_of_one_member']:.2f}x the time of one member")  # fmt: skip
        print(f"{'':18s} compare with the members: {report[name]['compare_mAP']['verdict']}")
    mean_plain = float(np.mean([s[0] for s in plain]))
    report["ratio"] = quality_ratio(float(np.mean([s[0] for s in runs["flip_wbf"]])), mean_plain)
    report["ratio_is"] = "mean mAP50:95 with the default TTA (flip, weighted box fusion) / mean plain mAP50:95, over the seeds"
    report["provenance"] = machine(threads=1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
