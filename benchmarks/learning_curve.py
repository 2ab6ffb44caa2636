"""Learning curves on real training runs (issue 18 §3): is a class with far fewer labels the one flagged?

``yoloxkit learning-curve`` (``run_learning_curve``) on ``yoloxkit data synth`` data of 4 classes
whose last one is rare (``--class-share 1,1,1,0.1``), with the learning test's short recipe
(tests/train/test_learning.py): fractions 0.25, 0.5, 1 of the training images, seeds 0 and 1,
target AP50:95 0.5. Printed: each class's objects, verdict and objects needed, and the classes
most in need. ``ratio`` = the rare class's estimated objects needed / its objects in the split
(above 1: it needs more labels; null when not finite).

    python benchmarks/learning_curve.py --json benchmarks/results/learning_curve.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import add_smoke, apply_smoke, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

SHARE = [1.0, 1.0, 1.0, 0.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--fractions", default="0.25,0.5,1")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), epochs=1, images=24, seeds="0")
    import torch

    from tests.train.test_learning import DATA, SETTINGS, make_data
    from yoloxkit.datasets.load import load_dataset
    from yoloxkit.runs import parse_seeds
    from yoloxkit.train import make_train_config
    from yoloxkit.train.learning_curve import curve_table, parse_fractions, run_learning_curve

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="learning_curve_") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", seed=0, class_share=SHARE, **(DATA | {"images": args.images}))
        cfg = make_train_config(None, [*SETTINGS, "log.progress=false", "log.plots=false", "log.report=false"], data=str(data),
                                model="yolox-nano", epochs=args.epochs, batch=8, out=folder / "curve")  # fmt: skip
        start = time.perf_counter()
        record = run_learning_curve(cfg, load_dataset(data), parse_fractions(args.fractions), parse_seeds(args.seeds), args.target, folder / "curve")
        minutes = (time.perf_counter() - start) / 60
    print(curve_table(record))
    print(f"{len(record['runs'])} runs in {minutes:.1f} min")
    rare = record["classes"][-1]
    needed = rare["needed"]
    record_out = {
        "ratio": needed / rare["have"] if isinstance(needed, float) and rare["have"] else None,
        "ratio_is": "the rare class's estimated objects needed for the target / its objects in the split",
        "rare_class": rare["class"], "rare_flagged_first": bool(record["most_in_need"]) and record["most_in_need"][0] == rare["class"],
        "most_in_need": record["most_in_need"], "classes": record["classes"], "overall": record["overall"],
        "runs": [{k: v for k, v in r.items() if k != "out"} for r in record["runs"]],
        "setup": {"epochs": args.epochs, "images": args.images, "class_share": SHARE, "fractions": args.fractions, "seeds": args.seeds,
                  "target": args.target, "minutes": minutes, "recipe": "tests/train/test_learning.py SETTINGS"},
        "provenance": machine(threads=2),
    }  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(record_out, indent=1) + "\n")


if __name__ == "__main__":
    main()
