"""Rotated models (issue 19): test-time augmentation, rotated-WBF ensembles and copy-paste, measured.

rotated-yolox-nano is trained from scratch with the rotated learning test's recipe
(tests/train/test_rotated_learning.py: synthetic elongated shapes at all angles, 192 px) for
seeds 0-2, once plainly and once with box-only copy-paste (``augment.copy_paste_prob=0.5``,
objects pasted through their polygons), two runs at a time, one thread each. Every plain model is
scored on the validation split by the DOTA rules (Task1 AP50, COCO-style mAP50:95 of rotated
boxes) plainly and with mirror TTA (fused by rotated WBF, or pooled NMS); the three plain runs
together as one ensemble (rotated WBF). Reported: per-seed scores, mean differences with a 95 %
t-interval over the seeds, time multiples. ``ratio`` = mean mAP50:95 with fused mirror TTA /
plain.

    python benchmarks/rotated_tta.py --json benchmarks/results/rotated_tta.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, interval, machine, parallel_runs, quality_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

ARMS = {"plain": [], "copy_paste": ["augment.copy_paste_prob=0.5"]}


def train_one(job: tuple[str, str, int, int, list[str]]) -> str:
    """One rotated run (in a worker process, one thread); returns its last checkpoint."""
    import torch

    torch.set_num_threads(1)
    from tests.train.test_rotated_learning import SETTINGS
    from yoloxkit.train.config import make_train_config
    from yoloxkit.train.trainer import Trainer

    data, out, epochs, seed, extra = job
    cfg = make_train_config(overrides=[*SETTINGS, "log.report=false", *extra], data=data, model="rotated-yolox-nano", epochs=epochs,
                            batch=8, out=Path(out), seed=seed)  # fmt: skip
    Trainer(cfg).fit()
    return str(Path(out) / "last.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=22)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=12, seeds=1)
    import torch

    from tests.train.test_rotated_learning import SYNTH
    from yoloxkit import Detector
    from yoloxkit.datasets.load import write_dataset
    from yoloxkit.datasets.report import Report
    from yoloxkit.datasets.synth import synthesize
    from yoloxkit.evaluation.rotated import evaluate_rotated
    from yoloxkit.tta import TTA

    with tempfile.TemporaryDirectory(prefix="rotated_tta_") as tmp:
        folder = Path(tmp)
        with tempfile.TemporaryDirectory() as scratch:
            write_dataset(synthesize(Path(scratch), **(SYNTH | {"images": args.images})), "coco", folder / "data", Report())
        data = str(folder / "data")
        jobs = [(data, str(folder / arm / f"seed-{s}"), args.epochs, s, extra) for arm, extra in ARMS.items() for s in range(args.seeds)]
        checkpoints, minutes = parallel_runs(train_one, jobs)
        torch.set_num_threads(1)

        def score(detector) -> tuple[float, float, float]:  # noqa: ANN001
            begin = time.perf_counter()
            metrics = evaluate_rotated(detector, data, "val", conf=0.01, iou=0.1, batch=8).metrics()
            return metrics["mAP"], metrics["AP50"], time.perf_counter() - begin

        runs: dict[str, list[tuple[float, float, float]]] = {"plain": [], "flip_wbf": [], "flip_nms": [], "copy_paste": []}
        members = []
        for checkpoint, job in zip(checkpoints, jobs):
            detector = Detector.from_checkpoint(checkpoint)
            if Path(job[1]).parent.name == "copy_paste":
                runs["copy_paste"].append(score(detector))
                continue
            members.append(detector)
            runs["plain"].append(score(detector))
            runs["flip_wbf"].append(score(detector.with_tta(TTA(merge="wbf"))))
            runs["flip_nms"].append(score(detector.with_tta(TTA(merge="nms"))))
        ensemble = score(Detector.ensemble(members))
    plain = runs["plain"]
    report: dict = {"settings": {}, "setup": {"epochs": args.epochs, "images": args.images, "seeds": args.seeds, "train_minutes": minutes,
                                              "recipe": "tests/train/test_rotated_learning.py SETTINGS"}}  # fmt: skip
    print(f"{len(jobs)} runs trained in {minutes:.1f} min")
    for name, values in runs.items():
        gain = interval([v[0] - p[0] for v, p in zip(values, plain)])
        cost = float(np.mean([v[2] / p[2] for v, p in zip(values, plain)]))
        report["settings"][name] = {"mAP50_95": [v[0] for v in values], "AP50": [v[1] for v in values], "gain_mAP50_95": gain,
                                    "time_multiple": cost if name.startswith("flip") else None}  # fmt: skip
        print(f"{name:11s} mAP50:95 {', '.join(f'{v[0]:.4f}' for v in values)}; AP50 {', '.join(f'{v[1]:.4f}' for v in values)}; "
              f"gain {gain[0]:+.4f} [{gain[1]:+.4f}, {gain[2]:+.4f}]" + (f"; {cost:.2f}x the time" if name.startswith("flip") else ""))  # fmt: skip
    best = max(plain, key=lambda v: v[0])
    report["ensemble"] = {"mAP50_95": ensemble[0], "AP50": ensemble[1], "best_member_mAP50_95": best[0],
                          "mean_member_mAP50_95": float(np.mean([v[0] for v in plain])), "time_multiple_of_one_member": ensemble[2] / float(np.mean([v[2] for v in plain]))}  # fmt: skip
    print(f"ensemble of {len(members)} (rotated WBF): mAP50:95 {ensemble[0]:.4f}, AP50 {ensemble[1]:.4f} (best member {best[0]:.4f})")
    mean_plain = float(np.mean([v[0] for v in plain]))
    report["ratio"] = quality_ratio(float(np.mean([v[0] for v in runs["flip_wbf"]])), mean_plain)
    report["ratio_is"] = "mean rotated mAP50:95 with mirror TTA fused by rotated WBF / plain, over the seeds"
    report["provenance"] = machine(threads=1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
