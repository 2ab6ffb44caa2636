"""New classes without forgetting the old ones (issue 19 §5): append-mode fine-tuning, plain vs pseudo-labels.

yolox-nano is pre-trained from scratch on synthetic classes A (4 shape/colour pairs) with the
learning test's recipe. It is then fine-tuned in append mode (``--classes-mode append``: A kept, B
added) on a second synthetic dataset whose images show objects of A and of 4 new classes B, where
only B is labelled (A objects are there, unlabelled: what a user's new images look like). Two
ways, seeds 0-2: plain append, and append with ``finetune.pseudo_labels=0.5`` (the starting
model's confident A detections added as labels). Every model is scored on a held-out split with
A and B both labelled: mean AP50:95 over the A classes and over the B classes. ``ratio`` = mean A
AP with pseudo-labels / with plain append.

    python benchmarks/forgetting.py --json benchmarks/results/forgetting.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, interval, learning_run, machine, parallel_runs, quality_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

WAYS = {"plain_append": [], "pseudo_labels": ["finetune.pseudo_labels=0.5"]}


def only_new_classes(folder: Path, seed: int, images: int, first_new: int) -> Path:
    """Synthetic images of 8 classes, labelled for the classes from ``first_new`` on only (COCO, in ``folder``)."""
    import dataclasses

    from tests.train.test_learning import DATA
    from yoloxkit.datasets.load import write_dataset
    from yoloxkit.datasets.report import Report
    from yoloxkit.datasets.synth import synthesize

    with tempfile.TemporaryDirectory() as scratch:
        full = synthesize(Path(scratch), seed=seed, **(DATA | {"images": images, "classes": 8}))
        keep_ids = {c.id for c in full.categories[first_new:]}
        splits = {}
        for name, split in full.splits.items():
            records = [dataclasses.replace(r, annotations=r.annotations.select(np.isin(r.annotations.category_ids, list(keep_ids)))) for r in split.images]
            splits[name] = dataclasses.replace(split, images=records)
        write_dataset(dataclasses.replace(full, categories=full.categories[first_new:], splits=splits), "coco", folder, Report())
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="pre-training epochs")
    parser.add_argument("--finetune-epochs", type=int, default=15)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, finetune_epochs=1, images=16, seeds=1)
    import torch

    from tests.train.test_learning import DATA, make_data, train
    from yoloxkit import Detector
    from yoloxkit.evaluation import Evaluator, load_ground_truth
    from yoloxkit.evaluation.inference import run_evaluation
    from yoloxkit.runs import run_checkpoint

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="forgetting_") as tmp:
        folder = Path(tmp)
        data_a = make_data(folder / "a", seed=0, **(DATA | {"images": args.images}))
        data_b = only_new_classes(folder / "b", seed=1, images=args.images, first_new=4)
        test = make_data(folder / "test", seed=100, **(DATA | {"images": max(args.images // 2, 8), "classes": 8, "val_fraction": 1.0}))
        started = time.perf_counter()
        train(data_a, folder / "pretrain", args.epochs, 0, None, "log.progress=false", "log.plots=false", "log.report=false")
        pretrained = run_checkpoint(folder / "pretrain")
        jobs = [(str(data_b), str(folder / way / f"seed-{s}"), args.finetune_epochs, s, str(pretrained), ["finetune.class_mode=append", *extra])
                for way, extra in WAYS.items() for s in range(args.seeds)]  # fmt: skip
        checkpoints = parallel_runs(learning_run, jobs)[0]
        minutes = (time.perf_counter() - started) / 60  # pre-training included
        gt = load_ground_truth(test, "val")
        groups = {"A": gt.names[:4], "B": gt.names[4:]}

        def score(checkpoint: Path | str) -> dict[str, float]:
            result = run_evaluation(Evaluator(gt), Detector.from_checkpoint(checkpoint), 0.001, 0.65, 8, progress=False)
            ap = dict(zip(result.names, np.nan_to_num(np.asarray(result.per_class["AP"], dtype=float))))
            return {group: float(np.mean([ap[n] for n in names])) for group, names in groups.items()}

        before = score(pretrained)
        scores = {way: [score(c) for c, job in zip(checkpoints, jobs) if Path(job[1]).parent.name == way] for way in WAYS}
    print(f"pre-training + {len(jobs)} fine-tunes in {minutes:.1f} min; test split {gt.num_images} images, A = {', '.join(groups['A'])}")
    print(f"before fine-tuning: A {before['A']:.4f}, B {before['B']:.4f}")
    report: dict = {"before": before, "ways": {}}
    for way, values in scores.items():
        a, b = [v["A"] for v in values], [v["B"] for v in values]
        report["ways"][way] = {"A": a, "B": b, "A_mean": interval(a), "B_mean": interval(b)}
        print(f"{way:14s} A per seed {', '.join(f'{v:.4f}' for v in a)} (mean {np.mean(a):.4f}); B {', '.join(f'{v:.4f}' for v in b)} (mean {np.mean(b):.4f})")
    gap_a = interval([p["A"] - q["A"] for p, q in zip(scores["pseudo_labels"], scores["plain_append"])])
    gap_b = interval([p["B"] - q["B"] for p, q in zip(scores["pseudo_labels"], scores["plain_append"])])
    print(f"pseudo-labels - plain: A {gap_a[0]:+.4f} [{gap_a[1]:+.4f}, {gap_a[2]:+.4f}], B {gap_b[0]:+.4f} [{gap_b[1]:+.4f}, {gap_b[2]:+.4f}]")
    plain_a = float(np.mean([v["A"] for v in scores["plain_append"]]))
    report |= {
        "pseudo_minus_plain": {"A": gap_a, "B": gap_b},
        "ratio": quality_ratio(float(np.mean([v["A"] for v in scores["pseudo_labels"]])), plain_a),
        "ratio_is": "mean AP50:95 of the old classes A after fine-tuning with pseudo-labels / with plain append, over the seeds",
        "setup": {"epochs": args.epochs, "finetune_epochs": args.finetune_epochs, "images": args.images, "seeds": args.seeds,
                  "pseudo_labels": 0.5, "minutes": minutes, "recipe": "tests/train/test_learning.py SETTINGS"},
        "provenance": machine(threads=1),
    }  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
