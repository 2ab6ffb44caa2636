"""Rotated ops benchmark: yoloxkit's rotated IoU / NMS against shapely, and the rotated training step.

Cases (each side timed in turn, the order flipping every repeat; median of the repeats):

* ``iou_sparse`` / ``iou_dense``: pairwise IoU of 1,000 x 1,000 random rboxes, in a 1024 px
  patch (DOTA-like: few pairs overlap) and in a 128 px square (about a third of the pairs
  overlap). Baseline: shapely 2's vectorised ``intersection`` on the two polygon arrays
  broadcast to 1,000 x 1,000 (``shapely.intersection(pa[:, None], pb[None, :])``), polygon
  construction and areas included, as ours includes everything from the rboxes. ``max_diff``
  is the largest absolute IoU difference.
* ``nms``: class-agnostic greedy rotated NMS (threshold 0.1, the reference's) of 2,000 boxes;
  baseline: a greedy loop on shapely (per kept box, one vectorised ``intersection`` against the
  remaining boxes). ``same_keep`` says whether both keep the same boxes in the same order.
* ``train_step``: forward + loss + backward of ``rotated-yolox-nano`` with
  :class:`RotatedYOLOXLoss` against ``yolox-nano`` with :class:`YOLOXLoss`, same input size,
  batch and objects (the axis-aligned step gets the rboxes' enclosing boxes).

``ratio`` = our time / the baseline's time (lower is better); targets: IoU <= 0.05 (20x faster
than shapely), train step <= 1.3. Torch runs with one thread (``--threads``), as shapely does.
``machine.load_average`` is the 1-minute load before and after the run (a shared machine slows
both sides; the ratios, from interleaved runs, move less than the times).

    python benchmarks/rotated_ops.py --json benchmarks/results/rotated_ops.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import shapely
import torch
from common import add_smoke, apply_smoke, machine

from yoloxkit.files import atomic_write
from yoloxkit.loss import Targets, YOLOXLoss
from yoloxkit.loss.rotated import RotatedYOLOXLoss, rotated_targets
from yoloxkit.models import create
from yoloxkit.ops.rotated import rotated_iou, rotated_nms
from yoloxkit.structures.boxes import convert


def random_rboxes(gen: torch.Generator, n: int, extent: float, low: float = 4.0, high: float = 100.0) -> torch.Tensor:
    """``[n, 5]`` float32 rboxes: centres in ``[0, extent)``, sides in ``[low, high)``, le90 angles."""
    xy = torch.rand(n, 2, generator=gen) * extent
    wh = torch.rand(n, 2, generator=gen) * (high - low) + low
    angle = (torch.rand(n, 1, generator=gen) - 0.5) * math.pi
    return torch.cat([xy, wh, angle], 1)


def polygons(boxes: torch.Tensor) -> np.ndarray:
    return shapely.polygons(convert(boxes.double().numpy(), "rbox", "qbox").reshape(-1, 4, 2))


def shapely_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pairwise IoU with shapely 2's vectorised operations (the baseline)."""
    pa, pb = polygons(a), polygons(b)
    inter = shapely.area(shapely.intersection(pa[:, None], pb[None, :]))
    union = shapely.area(pa)[:, None] + shapely.area(pb)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def shapely_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Greedy rotated NMS (IoU >= threshold suppresses) on shapely, vectorised per kept box."""
    shapes = polygons(boxes)
    areas = shapely.area(shapes)
    remaining = np.argsort(-scores.numpy(), kind="stable")
    kept = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        kept.append(int(best))
        inter = shapely.area(shapely.intersection(shapes[best], shapes[rest]))
        iou = inter / (areas[best] + areas[rest] - inter)
        remaining = rest[iou < threshold]
    return kept


def alternate(sides: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per side, the sides taking turns and the order flipping every repeat."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def iou_case(extent: float, repeats: int, count: int = 1000) -> dict:
    gen = torch.Generator().manual_seed(0)
    a, b = random_rboxes(gen, count, extent), random_rboxes(gen, count, extent)
    ours, theirs = rotated_iou(a, b).double().numpy(), shapely_iou(a, b)
    seconds = alternate({"yoloxkit": lambda: rotated_iou(a, b), "shapely": lambda: shapely_iou(a, b)}, repeats)
    return {
        "pairs": count * count,
        "overlapping_pairs": float((theirs > 0).mean()),
        "yoloxkit_s": seconds["yoloxkit"],
        "shapely_s": seconds["shapely"],
        "speedup": seconds["shapely"] / seconds["yoloxkit"],
        "max_diff": float(np.abs(ours - theirs).max()),
        "ratio": seconds["yoloxkit"] / seconds["shapely"],
        "target_ratio": 0.05,
    }


def nms_case(repeats: int, count: int = 2000) -> dict:
    gen = torch.Generator().manual_seed(1)
    boxes, scores = random_rboxes(gen, count, 1024.0), torch.rand(count, generator=gen)
    same = rotated_nms(boxes, scores, 0.1).tolist() == shapely_nms(boxes, scores, 0.1)
    seconds = alternate(
        {"yoloxkit": lambda: rotated_nms(boxes, scores, 0.1), "shapely": lambda: shapely_nms(boxes, scores, 0.1)},
        repeats,
    )
    return {
        "boxes": 2000,
        "kept": len(rotated_nms(boxes, scores, 0.1)),
        "same_keep": same,
        "yoloxkit_s": seconds["yoloxkit"],
        "shapely_s": seconds["shapely"],
        "speedup": seconds["shapely"] / seconds["yoloxkit"],
        "ratio": seconds["yoloxkit"] / seconds["shapely"],
    }


def train_step_case(size: int, batch: int, objects: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(2)
    images = torch.rand(batch, 3, size, size, generator=gen) * 255
    rows = []
    for _ in range(batch):
        boxes = random_rboxes(gen, objects, size * 0.8, 8.0, size / 4)
        boxes[:, :2] += size * 0.1
        rows.append(torch.cat([torch.randint(0, 15, (objects, 1), generator=gen).float(), boxes], 1))
    rotated = rotated_targets(rows)
    enclosing = convert(rotated.boxes, "rbox", "xyxy")
    axis_aligned = Targets(convert(enclosing, "xyxy", "cxcywh"), rotated.classes, rotated.mask)
    models = {"rotated": create("rotated-yolox-nano", num_classes=15), "axis_aligned": create("yolox-nano", num_classes=15)}
    losses = {"rotated": (RotatedYOLOXLoss(), rotated), "axis_aligned": (YOLOXLoss(), axis_aligned)}

    def step(name: str) -> None:
        model, (loss_fn, targets) = models[name].train(), losses[name]
        model.zero_grad(set_to_none=True)
        loss_fn(model(images), targets)["total"].backward()

    for name in models:  # warm-up
        step(name)
    seconds = alternate({name: (lambda name=name: step(name)) for name in models}, repeats)
    return {
        "model": "rotated-yolox-nano vs yolox-nano",
        "input": size,
        "batch": batch,
        "objects_per_image": objects,
        "rotated_s": seconds["rotated"],
        "axis_aligned_s": seconds["axis_aligned"],
        "ratio": seconds["rotated"] / seconds["axis_aligned"],
        "target_ratio": 1.3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--step-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--boxes", type=int, default=1000, help="boxes per side of the IoU matrix (NMS: twice as many)")
    parser.add_argument("--step-size", type=int, default=320, help="input size of the train-step case")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), repeats=1, step_repeats=1, boxes=60, step_size=64)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    results = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "shapely": shapely.__version__,
                    "threads": args.threads},
        "cases": {
            "iou_sparse": iou_case(1024.0, args.repeats, args.boxes),
            "iou_dense": iou_case(128.0, args.repeats, args.boxes),
            "nms": nms_case(args.repeats, 2 * args.boxes),
            "train_step": train_step_case(args.step_size, 4 if not args.smoke else 2, 20 if not args.smoke else 4, args.step_repeats),
        },
    }  # fmt: skip
    results["ratio"] = results["cases"]["iou_dense"]["ratio"]
    results["ratio_is"] = "dense rotated IoU: yoloxkit / shapely"
    results["provenance"] = machine(args.threads)
    results["machine"]["load_average"] = [load_before, os.getloadavg()[0]]
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with atomic_write(args.json) as handle:
            handle.write((text + "\n").encode())


if __name__ == "__main__":
    main()
