"""Active learning on real training runs (issue 18 §4): do batches chosen by ``yoloxkit mine`` beat random ones?

``yoloxkit data synth`` data (4 classes, the learning test's size) with a held-out test split of
another draw. Per seed: 20 % of the training images start labelled (random, seeded), yolox-nano
is trained on them with the learning test's short recipe and scored on the test split; then for
each strategy, ``--rounds`` times, ``--batch`` more images are labelled, chosen among the still
unlabelled ones either by the mining score (``yoloxkit.mining``: mirror disagreement and low
margins of the current model, with diversity) or at random, and a model is trained from scratch
on the labelled images and scored. Seeds run two at a time (one thread each). Reported: mAP50:95
after each round per strategy and seed, their means, and mine minus random per round with a 95 %
t-interval over the seeds. ``ratio`` = mean final mAP50:95 with mine / with random.

    python benchmarks/active_learning.py --json benchmarks/results/active_learning.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, interval, machine, parallel_runs, quality_ratio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

STRATEGIES = ("mine", "random")


def one_seed(job: tuple[str, str, str, int, int, int, int]) -> dict:
    """Every round of both strategies for one seed (in a worker process, one thread)."""
    import torch

    torch.set_num_threads(1)
    from tests.train.test_learning import SETTINGS
    from yoloxkit import Detector
    from yoloxkit.data.images import read_image
    from yoloxkit.datasets.load import load_dataset
    from yoloxkit.evaluation import Evaluator, load_ground_truth
    from yoloxkit.evaluation.inference import run_evaluation
    from yoloxkit.mining import choose_batch, score_images
    from yoloxkit.runs import run_checkpoint
    from yoloxkit.train import Trainer, make_train_config
    from yoloxkit.train.learning_curve import subset

    data, test, work, seed, epochs, batch, rounds = job
    dataset, gt = load_dataset(data), load_ground_truth(test, "val")
    train = dataset.splits["train"]
    rng = np.random.default_rng(seed)
    start = rng.permutation(len(train.images))[: max(1, len(train.images) // 5)].tolist()

    def fit(labelled: list[int], name: str) -> tuple[Detector, float]:
        out = Path(work) / f"seed-{seed}" / name
        cfg = make_train_config(None, [*SETTINGS, "log.progress=false", "log.plots=false", "log.report=false"], data=data,
                                model="yolox-nano", epochs=epochs, batch=8, out=out, seed=seed)  # fmt: skip
        Trainer(cfg, dataset=subset(dataset, "train", sorted(labelled))).fit()
        detector = Detector.from_checkpoint(run_checkpoint(out))
        return detector, float(run_evaluation(Evaluator(gt), detector, 0.001, 0.65, 8, progress=False).coco["AP"])

    first, first_ap = fit(start, "round-0")
    result = {"seed": seed, "start": len(start), **{s: [first_ap] for s in STRATEGIES}}
    for strategy in STRATEGIES:
        labelled, model = list(start), first
        for round_ in range(1, rounds + 1):
            pool = [i for i in range(len(train.images)) if i not in set(labelled)]
            if strategy == "mine":
                mined = score_images(model, [(train.path(train.images[i]), read_image(train.path(train.images[i]))) for i in pool])
                picked = [pool[k] for k in choose_batch(mined, batch)]
            else:
                picked = rng.choice(pool, min(batch, len(pool)), replace=False).tolist()
            labelled += picked
            model, ap = fit(labelled, f"{strategy}-round-{round_}")
            result[strategy].append(ap)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--batch", type=int, default=36, help="images labelled per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=20, batch=2, rounds=1, seeds=1)
    from tests.train.test_learning import DATA, make_data

    with tempfile.TemporaryDirectory(prefix="active_learning_") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", seed=0, **(DATA | {"images": args.images}))
        test = make_data(folder / "test", seed=100, **(DATA | {"images": max(args.images // 2, 8), "val_fraction": 1.0}))
        jobs = [(str(data), str(test), str(folder / "runs"), s, args.epochs, args.batch, args.rounds) for s in range(args.seeds)]
        results, minutes = parallel_runs(one_seed, jobs)
    print(f"{args.seeds} seeds x (1 + {len(STRATEGIES)} x {args.rounds}) runs in {minutes:.1f} min; {args.batch} images labelled per round")
    for r in results:
        print(f"seed {r['seed']} (start {r['start']} images): " + "; ".join(f"{s} " + ", ".join(f"{v:.4f}" for v in r[s]) for s in STRATEGIES))
    gaps = [interval([r["mine"][k] - r["random"][k] for r in results]) for k in range(1, args.rounds + 1)]
    for k, gap in enumerate(gaps, start=1):
        print(f"round {k}: mine - random {gap[0]:+.4f} [{gap[1]:+.4f}, {gap[2]:+.4f}]")
    final = {s: float(np.mean([r[s][-1] for r in results])) for s in STRATEGIES}
    report = {
        "ratio": quality_ratio(final["mine"], final["random"]),
        "ratio_is": "mean final mAP50:95 with batches from yoloxkit mine / with random batches, over the seeds",
        "results": results, "mine_minus_random": gaps, "final_mean": final,
        "setup": {"epochs": args.epochs, "images": args.images, "batch": args.batch, "rounds": args.rounds, "seeds": args.seeds,
                  "start_share": 0.2, "minutes": minutes, "recipe": "tests/train/test_learning.py SETTINGS", "test_data_seed": 100},
        "provenance": machine(threads=1),
    }  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
