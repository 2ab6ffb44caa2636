"""Shared test helpers: dataset paths, pycocotools as the reference, prediction sets, tiny scenes."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yoloxkit.datasets import Annotations, Category, Dataset, ImageRecord, Split
from yoloxkit.structures import BoxFormat

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
COCO128 = SHARED / "coco128"
BCCD = SHARED / "bccd"


def pycocotools_eval(gt: dict, results: list[dict]) -> COCOeval:
    """Plain pycocotools on a ground-truth dict and results (empty results allowed, unlike loadRes)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        evaluation = COCOeval(coco_gt, coco_dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def perfect(gt: dict, rng: np.random.Generator) -> list[dict]:
    """Every object found exactly, random scores."""
    return [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": list(a["bbox"]),
            "score": float(rng.random()),
        }
        for a in gt["annotations"]
    ]


def random_boxes(gt: dict, rng: np.random.Generator, per_image: int = 30) -> list[dict]:
    """Boxes anywhere in each image, random classes and scores (some scores tied)."""
    cat_ids = [c["id"] for c in gt["categories"]]
    out = []
    for image in gt["images"]:
        for _ in range(per_image):
            x, y = rng.random(2) * [image["width"], image["height"]]
            w, h = rng.random(2) * [image["width"], image["height"]] / 2
            out.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.choice(cat_ids)),
                    "bbox": [x, y, w, h],
                    "score": float(np.round(rng.random(), 2)),
                }
            )
    return out


def perturbed(gt: dict, rng: np.random.Generator, copies: int = 3) -> list[dict]:
    """Jittered copies of each object (some relabelled, some tied scores) plus background boxes."""
    cat_ids = [c["id"] for c in gt["categories"]]
    out = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(copies):
            jx, jy, jw, jh = rng.normal(0, 0.15, 4) * [w, h, w, h]
            cat = a["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
            box = [x + jx, y + jy, max(w + jw, 0.0), max(h + jh, 0.0)]
            score = float(np.round(rng.random(), 2))
            out.append({"image_id": a["image_id"], "category_id": cat, "bbox": box, "score": score})
    return out + random_boxes(gt, rng, per_image=5)


def crowded(gt: dict, rng: np.random.Generator) -> list[dict]:
    """More than 100 detections of one class in some images (pycocotools keeps the best 100)."""
    out = []
    for a in gt["annotations"][:5]:
        x, y, w, h = a["bbox"]
        for _ in range(130):
            j = rng.normal(0, 0.05, 4) * [w, h, w, h]
            out.append(
                {
                    "image_id": a["image_id"],
                    "category_id": a["category_id"],
                    "bbox": [x + j[0], y + j[1], w, h],
                    "score": float(rng.random()),
                }
            )
    return out + perturbed(gt, rng, copies=1)


PREDICTION_SETS = {
    "perfect": perfect,
    "empty": lambda gt, rng: [],
    "random": random_boxes,
    "perturbed": perturbed,
    "crowded": crowded,
}


def scene(
    objects: list[tuple[int, list[float]]],
    names: tuple[str, ...] = ("a", "b"),
    size: tuple[int, int] = (1000, 1000),
    images: int = 1,
    crowd: list[bool] | None = None,
    difficult: list[bool] | None = None,
) -> Dataset:
    """A dataset of ``images`` blank images; image 1 holds ``objects`` (category id, x1 y1 x2 y2), the rest none."""
    ann = Annotations.from_lists(BoxFormat.XYXY, [b for _, b in objects], [c for c, _ in objects], crowd, difficult)
    records = [
        ImageRecord(f"{i}.jpg", size[0], size[1], ann if i == 1 else Annotations.empty(BoxFormat.XYXY), i)
        for i in range(1, images + 1)
    ]
    categories = [Category(i + 1, n) for i, n in enumerate(names)]
    return Dataset(categories, {"val": Split("val", Path("."), records)})


def det(image_id: int, category_id: int, xyxy: list[float], score: float) -> dict:
    """A COCO results entry from corners."""
    x1, y1, x2, y2 = xyxy
    return {"image_id": image_id, "category_id": category_id, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}


def run(argv: list[str | Path]) -> int:
    """``yoloxkit ARGV`` in this process; the exit status."""
    from yoloxkit.cli import main

    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
