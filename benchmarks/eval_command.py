"""Evaluation as a whole command: ``yoloxkit eval --predictions P --data GT --out DIR`` (reading the
files, all metrics, metrics.json / per_class.csv / thresholds.json / report.md / report.html
with its charts and 12 drawn images; PNG plots only with --plots) against plain
pycocotools' whole process on the same files (load both JSON files, evaluate, accumulate,
summarize), each in a fresh interpreter, sides alternating, median of ``--repeats``.

Data: COCO128's val split repeated to ``--images`` images (ids 1..N) written as a COCO JSON file,
and ``--per-image`` detections per image (jittered objects, some with another class, then random
boxes), as ``benchmarks/evaluation.py`` builds them. ``ratio`` = yoloxkit / pycocotools; goal
(issue 16) <= 0.15. faster-coco-eval and hotcoco (benchmark-only dependencies,
requirements/benchmarks.txt) are timed the same way; every side's 12 numbers must equal
pycocotools' (the run stops otherwise), and the largest difference is recorded.

    python benchmarks/eval_command.py --json benchmarks/results/eval_command.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import add_smoke, apply_smoke, machine
from evaluation import make_predictions, repeated_dataset

from yoloxkit.datasets.coco import to_coco_dict

PYCOCOTOOLS = """
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
    e = COCOeval(gt, dt, "bbox"); e.evaluate(); e.accumulate(); e.summarize()
print(json.dumps([float(x) for x in e.stats]))
"""
FASTER = PYCOCOTOOLS.replace("from pycocotools.coco import COCO", "from faster_coco_eval import COCO").replace(
    "from pycocotools.cocoeval import COCOeval", "from faster_coco_eval import COCOeval_faster as COCOeval")
HOTCOCO = PYCOCOTOOLS.replace("from pycocotools.coco import COCO", "from hotcoco import COCO").replace(
    "from pycocotools.cocoeval import COCOeval", "from hotcoco import COCOeval")
#: Peers timed when their package is importable: the module to look for, the script.
PEERS = {"faster-coco-eval": ("faster_coco_eval", FASTER), "hotcoco": ("hotcoco", HOTCOCO)}
#: The 12 numbers in pycocotools' order, as metrics.json names them.
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def timed(command: list[str]) -> tuple[float, str]:
    """Seconds the command took, and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), images=40, per_image=10, repeats=1)
    with tempfile.TemporaryDirectory(prefix="eval_command_") as tmp:
        folder = Path(tmp)
        dataset = repeated_dataset(args.images)
        gt = to_coco_dict(dataset, dataset.splits["val"])
        (folder / "annotations").mkdir()
        gt_file = folder / "annotations" / "instances_val.json"
        gt_file.write_text(json.dumps(gt))
        predictions = folder / "predictions.json"
        predictions.write_text(json.dumps(make_predictions(gt, args.per_image)))
        sides = {
            "pycocotools": lambda n: [sys.executable, "-c", PYCOCOTOOLS, str(gt_file), str(predictions)],
            "yoloxkit": lambda n: [sys.executable, "-m", "yoloxkit", "eval", "--predictions", str(predictions), "--data", str(gt_file),
                                   "--out", str(folder / f"out{n}")],  # fmt: skip
        }
        for name, (module, script) in PEERS.items():
            if importlib.util.find_spec(module):
                sides[name] = lambda n, script=script: [sys.executable, "-c", script, str(gt_file), str(predictions)]
        times: dict[str, list[float]] = {name: [] for name in sides}
        numbers: dict[str, list[float]] = {}
        for repeat in range(args.repeats):
            for name in (list(sides) if repeat % 2 == 0 else list(sides)[::-1]):
                seconds, stdout = timed(sides[name](repeat))
                times[name].append(seconds)
                if name != "yoloxkit":
                    numbers[name] = json.loads(stdout.strip().splitlines()[-1])
                print(f"repeat {repeat + 1}: {name:16s} {seconds:7.2f} s", flush=True)
        coco = json.loads((folder / "out0" / "metrics.json").read_text())["coco"]
        numbers["yoloxkit"] = [coco[key] for key in COCO_KEYS]
    differences = {name: max(abs(a - b) for a, b in zip(values, numbers["pycocotools"])) for name, values in numbers.items()}
    if max(differences.values()) > 1e-9:
        raise SystemExit(f"the 12 numbers differ from pycocotools' (largest difference per side: {differences})")
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["yoloxkit"] / medians["pycocotools"]
    print(f"{args.images} images x {args.per_image} detections: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items())
          + f"; ratio yoloxkit / pycocotools {ratio:.3f} (goal <= 0.15); the same 12 numbers on every side"
          + f" (AP {numbers['yoloxkit'][0]:.4f})")  # fmt: skip
    if args.json:
        report = {"ratio": ratio, "ratio_is": "yoloxkit eval (whole command, report.html included) / pycocotools (whole process)",
                  "median_s": medians, "seconds": times, "ratio_to_pycocotools": {k: v / medians["pycocotools"] for k, v in medians.items()},
                  "images": args.images, "per_image": args.per_image, "coco_numbers": numbers,
                  "largest_difference_from_pycocotools": differences, "provenance": machine()}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
