"""Issue 19's options on a real small dataset (BCCD): copy-paste, class weights, TTA and an ensemble, each against the plain recipe.

yolox-nano is trained from scratch on BCCD's train split (205 images; the learning test's short
recipe, tests/train/test_learning.py, at ``--size`` px), once per seed and option, two runs at a
time with one thread each; the trainer picks its checkpoint on the val split. Every model is
evaluated on the test split (72 images; COCO mAP at the reference's test settings). Each option is
compared with the plain runs by ``yoloxkit compare``'s machinery (evaluation/comparison.py: a
bootstrap over seeds and images, Welch's t-interval over the seeds, the verdict): copy-paste
(probability 0.5, class-balanced), inverse-frequency class weights (power 0.5; BCCD's platelets and
white cells are rare next to red cells), flip TTA fused by weighted box fusion on the plain runs,
and the plain runs fused as one ensemble (one model, so its interval is over images only). With
``--options bf16`` (not by default): bfloat16 autocast (``amp=bf16``) against the float32 runs,
i.e. whether its less precise gradients cost accuracy; each option also reports its training time
per run against plain's (the runs of a seed train side by side). ``ratio`` = mean mAP50:95 with
the first chosen option (copy-paste by default) / plain.

    python benchmarks/bccd_options.py --json benchmarks/results/bccd_options.json
    python benchmarks/bccd_options.py --options bf16 --json benchmarks/results/bccd_bf16.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import ROOT, add_smoke, apply_smoke, evaluated_side, learning_run, machine, parallel_runs, quality_ratio

sys.path.insert(0, str(ROOT))  # for tests/

OPTIONS = {
    "plain": [],
    "copy_paste": ["augment.copy_paste_prob=0.5"],
    "inverse": ["loss.class_weights=inverse", "loss.power=0.5"],
    "bf16": ["amp=bf16"],
}
#: The options trained unless ``--options`` says otherwise (besides plain, always trained).
DEFAULT_OPTIONS = ("copy_paste", "inverse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "bccd")
    parser.add_argument("--size", type=int, default=320, help="training and test input size")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--options", nargs="+", choices=[o for o in OPTIONS if o != "plain"], default=list(DEFAULT_OPTIONS),
                        help="trained options compared with plain (flip TTA and the ensemble are always measured)")
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, seeds=1, size=128, bootstrap=50)
    from yoloxkit import Detector
    from yoloxkit.evaluation import load_ground_truth
    from yoloxkit.evaluation.comparison import Comparison
    from yoloxkit.tta import TTA

    if not args.data.is_dir():
        parser.error(f"{args.data}: no such dataset (BCCD is read from ../shared/datasets)")
    size = [f"augment.input_size=[{args.size},{args.size}]"]
    with tempfile.TemporaryDirectory(prefix="bccd_options_") as tmp:
        trained = {"plain": [], **{name: OPTIONS[name] for name in args.options}}
        # seed by seed, so the two runs training side by side are mostly runs of one seed
        jobs = [(str(args.data), f"{tmp}/{name}/seed-{s}", args.epochs, s, None, [*size, *extra]) for s in range(args.seeds) for name, extra in trained.items()]
        checkpoints, minutes = parallel_runs(learning_run, jobs)
        gt = load_ground_truth(args.data, "test")
        runs = {name: [c for c, job in zip(checkpoints, jobs) if Path(job[1]).parent.name == name] for name in trained}
        train_s = {name: [json.loads((Path(c).parent / "summary.json").read_text())["train_time_s"] for c in paths] for name, paths in runs.items()}
        models = {name: [Detector.from_checkpoint(c) for c in paths] for name, paths in runs.items()}
        sides = {name: evaluated_side(name, models[name], gt, runs[name]) for name in trained}
        sides["flip_tta"] = evaluated_side("flip_tta", [m.with_tta(TTA()) for m in models["plain"]], gt, runs["plain"])
        sides["ensemble"] = evaluated_side("ensemble", [Detector.ensemble(models["plain"])], gt, ["+".join(runs["plain"])])
    times = {name: [r.speed["total_ms"] for r in side.results] for name, side in sides.items()}
    plain_ms = float(np.mean(times["plain"]))
    report: dict = {"options": {}, "setup": {"data": str(args.data), "train_split": "train", "checkpoint_split": "val", "test_split": "test",
                                             "test_images": gt.num_images, "size": args.size, "epochs": args.epochs, "seeds": args.seeds,
                                             "model": "yolox-nano from scratch", "recipe": "tests/train/test_learning.py SETTINGS",
                                             "train_minutes": minutes, "bootstrap": args.bootstrap}}  # fmt: skip
    print(f"{len(jobs)} runs trained in {minutes:.1f} min; test split: {gt.num_images} images")
    for name, candidate in sides.items():
        if name == "plain":
            continue
        comparison = Comparison.of(sides["plain"], candidate, gt, args.bootstrap, 0)
        record = comparison.to_dict()
        record["time_multiple"] = float(np.mean(times[name])) / plain_ms
        if name in train_s:
            record["train_time_multiple"] = float(np.mean(train_s[name]) / np.mean(train_s["plain"]))
        record["overrides"] = OPTIONS.get(name, [])
        report["options"][name] = record
        per_class = ", ".join(f"{r['name']} {r['delta']:+.3f}" for r in record["per_class"] if r["delta"] is not None)
        print(f"{name:10s} mAP50:95 {record['coco']['AP']['A']:.4f} -> {record['coco']['AP']['B']:.4f}  {record['verdict']}; "
              f"per class {per_class}; {record['time_multiple']:.2f}x the time"
              + (f", training {record['train_time_multiple']:.2f}x" if "train_time_multiple" in record else ""))  # fmt: skip
    first = report["options"][args.options[0]]["coco"]["AP"]
    report["ratio"] = quality_ratio(first["B"], first["A"])
    report["ratio_is"] = f"mean mAP50:95 on BCCD's test split with {args.options[0]} / plain, over the seeds"
    report["provenance"] = machine(threads=1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
