"""``yoloxkit learning-curve``: train on nested subsets of the labels, fit per class how AP grows,
and estimate how many more labelled objects each class needs for a target AP.

For each seed, the training split's images get one seeded, stratified order (images grouped by
their rarest class, shuffled within the group, the groups interleaved so that every prefix holds
each group in proportion); the subset of fraction ``f`` is the first ``round(f * N)`` images, so
the subsets of one seed are nested. Each (fraction, seed) trains with the same recipe into
``OUT/frac-F-seed-S`` and its best checkpoint is evaluated on the validation split (the same for
all). Per class, AP50:95 against the class's labelled objects in the subset is fitted by
:mod:`yoloxkit.evaluation.learning`; ``OUT/learning_curve.json`` / ``.csv`` hold every run and
class, ``OUT/report.html`` the curves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..datasets.model import Dataset, Split
from ..errors import YoloxkitError
from ..evaluation.learning import ClassCurve, class_curve, most_in_need
from ..files import without_nan, write_csv, write_json
from .config import TrainConfig

logger = logging.getLogger("yoloxkit")

EVAL_CONF, EVAL_IOU = 0.001, 0.65


def parse_fractions(text: str) -> list[float]:
    """``"0.125,0.25,0.5,1"`` -> sorted distinct fractions in (0, 1]; a one-line error otherwise."""
    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise YoloxkitError(f"--fractions: expected comma-separated numbers in (0, 1], got {text!r}") from None
    if len(values) < 2 or not all(0 < v <= 1 for v in values):
        raise YoloxkitError(f"--fractions: give at least two numbers in (0, 1], got {text!r}")
    return values


def nested_order(image_classes: Sequence[Sequence[int]], seed: int) -> np.ndarray:
    """A seeded order of the images whose every prefix is stratified by each image's rarest class."""
    counts = Counter(c for classes in image_classes for c in set(classes))
    strata = [min(set(classes), key=lambda c: (counts[c], c)) if classes else -1 for classes in image_classes]
    rng = np.random.default_rng(seed)
    keys = np.zeros(len(strata))
    for stratum in set(strata):
        members = np.flatnonzero(np.array(strata) == stratum)
        rng.shuffle(members)
        keys[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(keys, kind="stable")


def subset(dataset: Dataset, split: str, images: Sequence[int]) -> Dataset:
    """``dataset`` whose ``split`` holds only ``images`` (indices into it)."""
    whole = dataset.splits[split]
    part = Split(whole.name, whole.root, [whole.images[i] for i in images])
    return dataclasses.replace(dataset, splits={**dataset.splits, split: part})


def _image_classes(dataset: Dataset, split: str) -> list[list[int]]:
    index = dataset.class_index
    return [[index[int(c)] for c in image.annotations.category_ids] for image in dataset.splits[split].images]


def run_learning_curve(
    config: TrainConfig, dataset: Dataset, fractions: Sequence[float], seeds: Sequence[int], target: float, out: Path,
    exist_ok: bool = False,
) -> dict:  # fmt: skip
    """Train every (fraction, seed), evaluate, fit; write ``learning_curve.json`` / ``.csv`` and ``report.html``."""
    from ..detector import Detector
    from ..evaluation import Evaluator, load_ground_truth
    from ..evaluation.inference import run_evaluation
    from ..runs import run_checkpoint
    from .trainer import Trainer

    split, val = config.loader.train_split, config.loader.val_split
    if val is None or val not in dataset.splits:
        raise YoloxkitError("learning-curve evaluates every run on the validation split; the dataset has none (make one with yoloxkit data split)")
    image_classes = _image_classes(dataset, split)
    names = [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]
    have = np.bincount([c for classes in image_classes for c in classes], minlength=len(names)).astype(float)
    gt = load_ground_truth(dataset, val)
    runs = []
    for seed in seeds:
        order = nested_order(image_classes, seed)
        for fraction in fractions:
            count = max(1, int(round(fraction * len(order))))
            chosen = np.sort(order[:count])
            run_out = out / f"frac-{fraction:g}-seed-{seed}"
            logger.info("learning curve: %d of %d images (%g), seed %d -> %s", count, len(order), fraction, seed, run_out)
            Trainer(dataclasses.replace(config, out=run_out, seed=seed), dataset=subset(dataset, split, chosen), exist_ok=exist_ok).fit()
            result = run_evaluation(Evaluator(gt), Detector.from_checkpoint(run_checkpoint(run_out)), EVAL_CONF, EVAL_IOU, config.val.batch, progress=False)
            objects = np.bincount([c for i in chosen for c in image_classes[i]], minlength=len(names))
            per_class = dict(zip(result.names, np.asarray(result.per_class["AP"], dtype=float)))
            runs.append({"fraction": fraction, "seed": seed, "images": count, "out": str(run_out), "mAP50_95": result.coco["AP"],
                         "objects": {n: int(k) for n, k in zip(names, objects)},
                         "ap": {n: (None if not np.isfinite(per_class.get(n, np.nan)) else float(per_class[n])) for n in names}})  # fmt: skip
    curves = [
        class_curve(name, [r["images"] for r in runs], [r["objects"][name] for r in runs],
                    [np.nan if r["ap"][name] is None else r["ap"][name] for r in runs], have[k], target)  # fmt: skip
        for k, name in enumerate(names)
    ]
    overall = class_curve("all classes", [r["images"] for r in runs], [sum(r["objects"].values()) for r in runs],
                          [r["mAP50_95"] for r in runs], float(have.sum()), target)  # fmt: skip
    record = {"target_ap": target, "fractions": list(fractions), "seeds": list(seeds), "runs": runs,
              "classes": [c.to_dict() for c in curves], "overall": overall.to_dict(), "most_in_need": most_in_need(curves)}  # fmt: skip
    write_json(out / "learning_curve.json", without_nan(record))
    write_csv(out / "learning_curve.csv", CSV_COLUMNS, curve_rows(curves))
    from ..report.learning import write_learning_report

    write_learning_report(out, curves, overall, record, str(config.data))
    return record


CSV_COLUMNS = ("class", "have", "asymptote", "scale", "exponent", "needed", "more", "low", "high", "verdict")


def curve_rows(curves: Sequence[ClassCurve]) -> list[dict]:
    """One row per class (``learning_curve.csv``): objects in the split, fit, objects needed, more to label, interval, verdict."""
    rows = []
    for c in curves:
        row = c.to_dict()
        fit = row["fit"] or {}
        low, high = row["interval"] or (None, None)
        rows.append({"class": c.name, "have": f"{c.have:.0f}", "asymptote": fit.get("asymptote"), "scale": fit.get("scale"),
                     "exponent": fit.get("exponent"), "needed": row["needed"], "more": row["more"], "low": low, "high": high,
                     "verdict": c.verdict})  # fmt: skip
    return rows


def curve_table(record: dict) -> str:
    """The terminal summary: each class's verdict, then the classes most in need."""
    lines = [f"target AP50:95 {record['target_ap']:g}"]
    for row in record["classes"]:
        lines.append(f"  {row['class']:<20} {row['verdict']}")
    need = record["most_in_need"]
    lines.append("most in need of labels: " + (", ".join(need) if need else "none (every class reached the target or cannot tell)"))
    return "\n".join(lines)
