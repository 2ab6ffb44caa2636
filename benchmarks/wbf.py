"""Weighted box fusion speed: yoloxkit's ``ops/wbf.py`` against the ``ensemble-boxes`` package.

Five sources of 100 boxes per image (jittered copies of 60 shared objects, 5 classes, [0, 1]
coordinates: what the package expects), fused per image as an ensemble of five models does;
rounds alternate the two sides, median of the rounds. ``ratio`` = ensemble-boxes time /
yoloxkit time (above 1: ours is faster). Both give the same boxes (tests/ops/test_wbf.py).

    python benchmarks/wbf.py --json benchmarks/results/wbf.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sysconfig
import time
import warnings
from pathlib import Path

import numpy as np

from common import add_smoke, apply_smoke, machine


def reference_wbf():
    """ensemble-boxes' WBF module from its file (its package __init__ imports numba)."""
    path = Path(sysconfig.get_paths()["purelib"]) / "ensemble_boxes" / "ensemble_boxes_wbf.py"
    spec = importlib.util.spec_from_file_location("ensemble_boxes_wbf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.weighted_boxes_fusion


def make_images(count: int, seed: int = 0) -> list[tuple[list, list, list]]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        centres, sizes = rng.uniform(0.05, 0.75, (60, 2)), rng.uniform(0.02, 0.2, (60, 2))
        classes = rng.integers(0, 5, 60)
        boxes, scores, labels = [], [], []
        for _ in range(5):
            pick = rng.integers(0, 60, 100)
            corner = centres[pick] + rng.normal(0, 0.01, (100, 2))
            boxes.append(np.clip(np.concatenate([corner, corner + sizes[pick]], 1), 0, 1))
            scores.append(rng.uniform(0.01, 1, 100))
            labels.append(classes[pick])
        images.append((boxes, scores, labels))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), images=3, rounds=2)
    from yoloxkit.ops.wbf import weighted_boxes_fusion

    reference = reference_wbf()
    images = make_images(args.images)
    times: dict[str, list[float]] = {"yoloxkit": [], "ensemble_boxes": []}
    sides = {"yoloxkit": weighted_boxes_fusion, "ensemble_boxes": reference}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for round_ in range(args.rounds):
            for name in (list(sides) if round_ % 2 == 0 else list(sides)[::-1]):
                start = time.perf_counter()
                for boxes, scores, labels in images:
                    sides[name](boxes, scores, labels, iou_thr=0.55)
                times[name].append((time.perf_counter() - start) / len(images) * 1000)
    median = {name: float(np.median(values)) for name, values in times.items()}
    ratio = median["ensemble_boxes"] / median["yoloxkit"]
    print(f"ms per image (5 sources x 100 boxes): yoloxkit {median['yoloxkit']:.2f}, ensemble-boxes {median['ensemble_boxes']:.2f}; "
          f"ensemble-boxes / yoloxkit = {ratio:.2f}")  # fmt: skip
    if args.json:
        report = {"ratio": ratio, "ratio_is": "ensemble-boxes time / yoloxkit time per image (median of rounds)",
                  "ms_per_image": median, "rounds_ms": times, "setup": {"images": args.images, "sources": 5, "boxes_per_source": 100},
                  "provenance": machine(threads=1)}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
