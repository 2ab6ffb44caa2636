"""Per-class operating thresholds against one global threshold, on held-out data (issue 17).

yolox-nano is trained from scratch on ``yoloxkit data synth`` data with the learning test's short
recipe (tests/train/test_learning.py). Thresholds are chosen on its validation split: per class
(max F1, :mod:`yoloxkit.evaluation.operating`) and one global (max F1 over all classes, as peers
print it); the default 0.25 is the third side. They are then applied to a held-out split: the
validation split of another synthetic draw of the same classes (another seed), and the per-class
F1 at IoU 0.5 is reported for each side. ``ratio`` = mean per-class F1 with per-class thresholds /
with the single global one.

    python benchmarks/operating_thresholds.py --json benchmarks/results/operating_thresholds.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import add_smoke, apply_smoke, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/


def f1_per_class(evaluator, limits: np.ndarray) -> np.ndarray:  # noqa: ANN001 - an Evaluator
    """Per-class F1 at IoU 0.5 when class ``k`` keeps detections scoring >= ``limits[k]``."""
    m = evaluator.matches()
    counted = ~m.ignored[0, 0]
    hit = counted & (m.gt_index[0, 0] >= 0)
    kept = counted & (m.dets.score >= limits[m.dets.category])
    from yoloxkit.evaluation.prf import rates

    k = evaluator.gt.num_classes
    tp = np.bincount(m.dets.category[kept & hit], minlength=k)
    fp = np.bincount(m.dets.category[kept & ~hit], minlength=k)
    return rates(tp, fp, m.positives(k)[0])[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=24)
    torch.set_num_threads(1)
    from tests.train.test_learning import DATA, make_data, train
    from yoloxkit import Detector
    from yoloxkit.evaluation import Evaluator, load_ground_truth
    from yoloxkit.evaluation.inference import predict_into

    settings = DATA | {"images": args.images}
    with tempfile.TemporaryDirectory(prefix="operating_") as tmp:
        folder = Path(tmp)
        tune_data = make_data(folder / "tune", seed=args.seed, **settings)
        test_data = make_data(folder / "test", seed=args.seed + 100, **settings)
        start = time.perf_counter()
        train(tune_data, folder / "run", args.epochs, args.seed)
        minutes = (time.perf_counter() - start) / 60
        detector = Detector.from_checkpoint(folder / "run" / "best.pt")
        evaluators = {}
        for name, data in (("tune", tune_data), ("test", test_data)):
            evaluators[name] = Evaluator(load_ground_truth(data, "val"))
            predict_into(evaluators[name], detector, conf=0.001, iou=0.65, progress=False)
        tuned = evaluators["tune"].compute().operating
    names = evaluators["test"].gt.names
    per_class = np.array([tuned.by_class().get(n, 0.25) for n in names])
    global_conf = tuned.global_f1_conf if tuned.global_f1_conf is not None else 0.25
    sides = {"per_class": per_class, "global_best_f1": np.full(len(names), global_conf), "default_0.25": np.full(len(names), 0.25)}
    f1 = {side: f1_per_class(evaluators["test"], limits) for side, limits in sides.items()}
    means = {side: float(np.nanmean(values)) for side, values in f1.items()}
    ratio = means["per_class"] / means["global_best_f1"] if means["global_best_f1"] > 0 else None
    print(f"trained {args.epochs} epochs ({minutes:.1f} min); thresholds chosen on the tune split, F1 on the held-out split:")
    print(f"{'class':16s} {'conf':>6s} {'F1 per-class':>13s} {'F1 global':>10s} {'F1 0.25':>8s}")
    for i, name in enumerate(names):
        print(f"{name:16s} {per_class[i]:6.3f} {f1['per_class'][i]:13.3f} {f1['global_best_f1'][i]:10.3f} {f1['default_0.25'][i]:8.3f}")
    print(f"mean F1: per-class {means['per_class']:.3f}, global {global_conf:.3f} -> {means['global_best_f1']:.3f}, "
          f"0.25 -> {means['default_0.25']:.3f}; ratio per-class / global {ratio}")  # fmt: skip
    if args.json:
        report = {
            "ratio": ratio,
            "ratio_is": "mean per-class F1 on the held-out split: per-class thresholds / one global best-F1 threshold",
            "mean_f1": means,
            "per_class": [
                {"class": n, "conf": float(per_class[i]), **{side: _plain(f1[side][i]) for side in sides}} for i, n in enumerate(names)
            ],
            "global_conf": global_conf,
            "setup": {"epochs": args.epochs, "images": args.images, "seed": args.seed, "test_seed": args.seed + 100,
                      "train_minutes": minutes, "recipe": "tests/train/test_learning.py SETTINGS"},  # fmt: skip
            "provenance": machine(threads=1),
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")


def _plain(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


if __name__ == "__main__":
    main()
