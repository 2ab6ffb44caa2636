"""COCO metrics: yoloxkit's evaluator against plain pycocotools on the same predictions.

The ground truth is COCO128 (80 classes, 128 real images, ~930 boxes in the ``val`` split)
repeated to ``--images`` images (5,000 by default, the size of COCO val2017) with fresh image
ids; the predictions are ``--per-image`` detections per image (100 by default): several jittered
copies of each object (some with another class), the rest random boxes, random scores.

What is timed, from ground truth and results already in memory to the 12 numbers:

* pycocotools: ``COCO()`` index of the ground-truth dict, ``loadRes`` of the results list,
  ``COCOeval.evaluate``, ``accumulate``, ``summarize`` (its printing sent to a buffer);
* yoloxkit:    ``GroundTruth.from_dataset``, ``Evaluator.update_results`` (validation included),
  ``Evaluator.coco()`` (matching, accumulation, the 12 numbers).

The two run alternately (the order flips every repeat) and the table reports the median; the
12 numbers must be identical (checked every repeat, to the last bit). ``--json FILE`` writes
the timings and ``ratio`` = yoloxkit median / pycocotools median.

    python benchmarks/evaluation.py                       # 5,000 images x 100, 3 repeats
    python benchmarks/evaluation.py --images 1000 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from common import add_smoke, apply_smoke, machine
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yoloxkit.datasets import Dataset, ImageRecord, Split, load_dataset
from yoloxkit.datasets.coco import to_coco_dict
from yoloxkit.evaluation import Evaluator, GroundTruth, resolve_split

COCO128 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128"


def repeated_dataset(images: int) -> Dataset:
    """COCO128's val split repeated to ``images`` images with ids 1..images."""
    source = load_dataset(COCO128)
    split = resolve_split(source, "val")
    records = [
        ImageRecord(r.file_name, r.width, r.height, r.annotations, i + 1)
        for i, r in enumerate(split.images[i % len(split.images)] for i in range(images))
    ]
    return Dataset(
        source.categories, {"val": Split("val", split.root, records)}, source.box_format, "yolo", str(COCO128)
    )


def make_predictions(gt: dict, per_image: int, seed: int = 0) -> list[dict]:
    """``per_image`` detections per image: jittered objects (20 % with another class), then random boxes."""
    rng = np.random.default_rng(seed)
    cat_ids = [c["id"] for c in gt["categories"]]
    by_image: dict[int, list[dict]] = {im["id"]: [] for im in gt["images"]}
    for ann in gt["annotations"]:
        by_image[ann["image_id"]].append(ann)
    results = []
    for image in gt["images"]:
        anns, boxes = by_image[image["id"]], []
        for k in range(per_image):
            if anns and k < 3 * len(anns):
                ann = anns[k % len(anns)]
                x, y, w, h = ann["bbox"]
                jx, jy, jw, jh = rng.normal(0, 0.1, 4) * [w, h, w, h]
                cat = ann["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
                boxes.append((cat, [x + jx, y + jy, max(w + jw, 1.0), max(h + jh, 1.0)]))
            else:
                x, y = rng.random(2) * [image["width"], image["height"]]
                boxes.append((int(rng.choice(cat_ids)), [x, y, 8 + rng.random() * 200, 8 + rng.random() * 200]))
        results += [
            {"image_id": image["id"], "category_id": c, "bbox": b, "score": float(rng.random())} for c, b in boxes
        ]
    return results


def run_pycocotools(gt: dict, results: list[dict]) -> tuple[float, list[float]]:
    """Seconds and stats of plain pycocotools (results deep-copied beforehand: loadRes mutates them)."""
    results = copy.deepcopy(results)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return time.perf_counter() - start, [float(v) for v in evaluation.stats]


def run_yoloxkit(dataset: Dataset, results: list[dict]) -> tuple[float, list[float]]:
    """Seconds and stats of yoloxkit's evaluator."""
    start = time.perf_counter()
    evaluator = Evaluator(GroundTruth.from_dataset(dataset, "val"))
    evaluator.update_results(results)
    stats = list(evaluator.coco().values())
    return time.perf_counter() - start, stats


def main() -> None:
    """Run the benchmark and print (and optionally save) the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), images=50, per_image=10, repeats=1)
    dataset = repeated_dataset(args.images)
    gt = to_coco_dict(dataset, dataset.splits["val"])
    results = make_predictions(gt, args.per_image)
    print(f"{args.images} images, {len(gt['annotations'])} objects, {len(results)} detections; {args.repeats} repeats")
    times: dict[str, list[float]] = {"pycocotools": [], "yoloxkit": []}
    for repeat in range(args.repeats):
        order = ("pycocotools", "yoloxkit") if repeat % 2 == 0 else ("yoloxkit", "pycocotools")
        stats = {}
        for name in order:
            seconds, stats[name] = (
                run_pycocotools(gt, results) if name == "pycocotools" else run_yoloxkit(dataset, results)
            )
            times[name].append(seconds)
        if stats["pycocotools"] != stats["yoloxkit"]:
            raise SystemExit(f"numbers differ:\n pycocotools {stats['pycocotools']}\n yoloxkit    {stats['yoloxkit']}")
        print(
            f"repeat {repeat + 1}: pycocotools {times['pycocotools'][-1]:.2f} s, yoloxkit {times['yoloxkit'][-1]:.2f} s"
        )
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["yoloxkit"] / medians["pycocotools"]
    print(
        f"median: pycocotools {medians['pycocotools']:.2f} s, yoloxkit {medians['yoloxkit']:.2f} s, ratio {ratio:.3f}"
    )
    print("12 COCO numbers identical in every repeat:", [round(v, 4) for v in stats["yoloxkit"]])
    if args.json:
        sizes = {"images": args.images, "detections": len(results), "objects": len(gt["annotations"])}
        timing = {"repeats": args.repeats, "seconds": times, "median_s": medians, "ratio": ratio}
        versions = {"python": platform.python_version(), "machine": platform.machine(), "numpy": np.__version__}
        report = sizes | timing | {"identical": True, "stats": stats["yoloxkit"]} | versions | {"provenance": machine()}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
