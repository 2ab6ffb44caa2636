"""Per-class operating thresholds: at which confidence to run each class.

For every class, the detections kept at a threshold are those scoring at least it; counts come
from COCO's matching at the chosen IoU (all object sizes, at most 100 detections per image and
class, crowd matches left out), as for the P/R/F1 figures of :mod:`~yoloxkit.evaluation.prf`.
The candidate thresholds are the class's own detection scores (a threshold between two scores
keeps the same detections as the higher one). Criteria:

- ``f1`` (default): the threshold of maximum F1; ties go to the higher threshold (fewer
  detections for the same F1);
- ``precision=P``: the lowest threshold whose precision is at least ``P`` (the most recall that
  precision allows); none when no threshold reaches it;
- ``recall=R``: the highest threshold whose recall is at least ``R`` (the most precision at that
  recall); none when the detections never reach it.

Each threshold comes with a bootstrap interval: images are resampled with replacement (their
detections and objects with them), the threshold is chosen again on each resample, and the 2.5
and 97.5 percentiles are reported (over the resamples where the class has a threshold). A wide
interval says the data cannot pin the threshold down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import YoloxkitError
from .groundtruth import GroundTruth
from .matching import IOU_THRESHOLDS, CocoMatches
from .prf import best_f1_conf, rates

CRITERIA = ("f1", "precision", "recall")
#: Bootstrap resamples of the threshold interval (~5 ms each on 500,000 detections; in ``yoloxkit
#: eval`` they run beside the other metrics, in the background half of ``Evaluator.compute``).
DEFAULT_RESAMPLES = 100


def parse_criterion(text: str) -> tuple[str, float | None]:
    """``"f1"``, ``"precision=0.9"`` or ``"recall=0.8"`` -> ``(criterion, target)``."""
    name, _, value = text.strip().partition("=")
    name = name.strip().lower()
    if name not in CRITERIA:
        raise YoloxkitError(f"--operating: {text!r}: expected f1, precision=P or recall=R")
    if name == "f1":
        if value:
            raise YoloxkitError(f"--operating: {text!r}: f1 takes no target")
        return name, None
    try:
        target = float(value)
    except ValueError:
        raise YoloxkitError(f"--operating: {text!r}: {name} needs a target in (0, 1], e.g. {name}=0.9") from None
    if not 0 < target <= 1:
        raise YoloxkitError(f"--operating: {text!r}: the target must be in (0, 1]")
    return name, target


def iou_index(iou: float) -> int:
    """Index of ``iou`` among COCO's IoU thresholds (the matching is done at those only)."""
    found = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou))
    if not len(found):
        raise YoloxkitError(f"--operating-iou must be one of COCO's IoU thresholds 0.50, 0.55, ... 0.95, got {iou}")
    return int(found[0])


@dataclass
class ClassThreshold:
    """One class's operating point (``conf`` None: no threshold meets the criterion)."""

    name: str
    objects: int
    conf: float | None
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    interval: tuple[float, float] | None  # bootstrap 95 % interval of conf


@dataclass
class OperatingThresholds:
    """Per-class thresholds for one criterion, and the single best-F1 threshold for comparison."""

    criterion: str
    target: float | None
    iou: float
    classes: list[ClassThreshold]
    resamples: int
    global_f1_conf: float | None = None
    notes: list[str] = field(default_factory=list)

    def by_class(self) -> dict[str, float]:
        """``{class name: threshold}`` for the classes that have one (what a checkpoint stores)."""
        return {c.name: c.conf for c in self.classes if c.conf is not None}

    def to_dict(self) -> dict:
        """JSON-ready (``thresholds.json``)."""
        return {
            "criterion": self.criterion,
            "target": self.target,
            "iou": self.iou,
            "resamples": self.resamples,
            "global_f1_conf": self.global_f1_conf,
            "thresholds": self.by_class(),
            "classes": [
                {
                    "class": c.name, "objects": c.objects, "conf": c.conf, "tp": c.tp, "fp": c.fp, "fn": c.fn,
                    "precision": c.precision, "recall": c.recall, "f1": c.f1,
                    "conf_interval": list(c.interval) if c.interval is not None else None,
                }
                for c in self.classes
            ],
            "notes": list(self.notes),
        }  # fmt: skip

    def table(self) -> str:
        """A Markdown table of the per-class thresholds."""
        what = "max F1" if self.criterion == "f1" else f"{self.criterion} >= {self.target:g}"
        lines = [
            f"Per-class operating thresholds ({what}, IoU {self.iou:g}; 95 % bootstrap interval over {self.resamples} image resamples):",
            "",
            "| class | objects | conf | 95 % interval | precision | recall | F1 | TP | FP | FN |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in self.classes:
            conf = f"{c.conf:.3f}" if c.conf is not None else "none"
            interval = f"{c.interval[0]:.3f}-{c.interval[1]:.3f}" if c.interval is not None else "-"
            lines.append(f"| {c.name} | {c.objects} | {conf} | {interval} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.tp} | {c.fp} | {c.fn} |")
        return "\n".join(lines)


def _choose(
    ends: np.ndarray, hits: np.ndarray, weights: np.ndarray, positives: float, criterion: str, target: float | None
) -> int | None:
    """Index (into the class's detections sorted by descending score) of the last detection kept
    at the chosen threshold, or None. ``ends`` are the last indices of the groups of equal scores
    (the candidate thresholds); ``weights`` count each detection's image in a resample (all 1
    for the data itself), so a group whose images were all left out is no candidate."""
    if not len(ends) or positives <= 0:
        return None
    tp, kept = np.cumsum(hits * weights)[ends], np.cumsum(weights)[ends]
    present = np.diff(kept, prepend=0.0) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if criterion == "f1":
            value = np.where(present, 2 * tp / (kept + positives), -1.0)
            best = int(np.argmax(value))
            return int(ends[best]) if value[best] >= 0 else None
        reached = tp >= (target - 1e-12) * (kept if criterion == "precision" else positives)
    good = np.flatnonzero(present & reached)
    if not len(good):
        return None
    return int(ends[good[-1] if criterion == "precision" else good[0]])


def operating_thresholds(
    gt: GroundTruth,
    matches: CocoMatches,
    criterion: str = "f1",
    target: float | None = None,
    iou: float = 0.5,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> OperatingThresholds:
    """Per-class thresholds by ``criterion`` (see the module docstring) on the detections matched to ``gt``."""
    if criterion not in CRITERIA:
        raise YoloxkitError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    t = iou_index(iou)
    dets, names = matches.dets, gt.names
    num_classes = len(names)
    counted = ~matches.ignored[0, t]
    hit = counted & (matches.gt_index[0, t] >= 0)
    order = np.lexsort((-dets.score, dets.category))
    order = order[counted[order]]
    score, category, hits, image = dets.score[order], dets.category[order], hit[order].astype(np.float64), dets.image[order]
    bounds = np.searchsorted(category, np.arange(num_classes + 1))
    ends = [_tie_ends(score[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    real = ~matches.gt_ignored[0]
    num_images = int(max(image.max(initial=-1), gt.image.max(initial=-1)) + 1)

    def choose_all(image_weights: np.ndarray) -> list[int | None]:
        w = image_weights[image]
        positives = np.bincount(matches.gt_category[real], weights=image_weights[gt.image[real]], minlength=num_classes)
        return [
            _choose(ends[k], hits[lo:hi], w[lo:hi], positives[k], criterion, target) if hi > lo else None
            for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]

    chosen = choose_all(np.ones(num_images))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, num_images, num_images), minlength=num_images).astype(np.float64)
        draws.append([bounds[k] + i if i is not None else -1 for k, i in enumerate(choose_all(weights))])
    drawn = np.array(draws, dtype=np.int64).reshape(resamples, num_classes)
    samples = [score[drawn[:, k][drawn[:, k] >= 0]] for k in range(num_classes)]
    objects = matches.positives(num_classes)[0]
    kept = np.array([i + 1 if i is not None else 0 for i in chosen])
    tp = np.array([hits[lo : lo + n].sum() for lo, n in zip(bounds[:-1], kept)]).astype(np.int64)
    precision, recall, f1 = rates(tp, kept - tp, objects)
    classes = []
    for k, name in enumerate(names):
        index = chosen[k]
        interval = tuple(float(v) for v in np.percentile(samples[k], [2.5, 97.5])) if len(samples[k]) and index is not None else None
        conf = float(score[bounds[k] + index]) if index is not None else None
        classes.append(ClassThreshold(name, int(objects[k]), conf, int(tp[k]), int(kept[k] - tp[k]), int(objects[k] - tp[k]),
                                      float(precision[k]), float(recall[k]), float(f1[k]), interval))  # type: ignore[arg-type]  # fmt: skip
    result = OperatingThresholds(criterion, target, float(IOU_THRESHOLDS[t]), classes, resamples)
    result.global_f1_conf = best_f1_conf(dets.score, hit, counted, int(objects.sum()))
    missing = [c.name for c in classes if c.conf is None and c.objects]
    if missing:
        result.notes.append(f"no threshold meets the criterion for {len(missing)} classes: {', '.join(missing[:5])}")
    return result


def _tie_ends(scores: np.ndarray) -> np.ndarray:
    """Indices of the last detection of each run of equal scores (``scores`` sorted, one class's)."""
    return np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
