"""DOTA Task1 evaluation: the official devkit metric, plus the COCO-style numbers of the reference table.

Official (devkit ``dota_evaluation_task1.py``, ``rotated-yolox.md`` §5.5), per class:

* ground truth from the original ``labelTxt`` files: lines with fewer than 9 fields are skipped
  (the ``imagesource:``/``gsd:`` headers), difficulty = 10th field or 0, and every object with a
  non-zero difficulty is *difficult* (ignored: neither TP nor FP when matched);
* detections by descending score, each compared with the polygon of its class and image it
  overlaps most (exact polygon IoU, ``inter / (|A| + |B| - inter)``); IoU ``> 0.5`` (strict)
  with a free non-difficult object is a TP, with a taken one a FP, with a difficult one ignored;
* AP = VOC2007 11-point AP. A class without non-difficult objects in the evaluated images has no
  AP (the devkit computes NaN there); the headline mAP is the mean over the classes that have
  objects, and how many those are is printed. (Averaging over all 15 DOTA-v1.0 classes with 0 for
  absent ones, as a full-dataset submission does, would understate any subset: 0.096 instead of
  0.717 on one image holding two classes.) On the full DOTA-v1.0 test set every class has objects
  and both agree.

COCO-style (§5.6, the reference README's AP50 / AP75 / mAP): the same rule at the IoU
thresholds 0.50, 0.55, ..., 0.95; ``AP50`` equals the Task1 mAP, ``mAP`` is the mean over the
ten thresholds. How the DOTA server computes its COCO-style numbers is not documented; this is
the devkit rule applied at each threshold.

Ties: Task1 scores have two decimals, so equal scores are everywhere, and which of two tied
detections is matched first changes AP (up to ~7e-4 per class on a real DOTA image). The devkit
orders each class's detections, in the order of its Task1 file, by ``np.argsort(-confidence)``:
NumPy's default sort, whose order of ties is NumPy's own. yoloxkit makes exactly that call on the
same float64 scores in the same order, so it reproduces the devkit's number wherever the devkit
runs with the same NumPy (NumPy's SIMD sorts can order ties differently on other CPUs, for the
devkit too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..datasets.categories import DOTA_V1_CLASSES, infer_names
from ..datasets.model import Dataset
from ..datasets.dota import LABEL_DIRS
from ..dota.polygons import paired_iou, polygon_extents
from ..dota.task1 import Task1Detections
from ..errors import YoloxkitError
from .voc import class_ap

if TYPE_CHECKING:  # angles imports this module
    from .angles import AngleErrors

#: IoU thresholds of the COCO-style numbers.
COCO_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())
#: Most (detection x object) extent comparisons done at once.
_CHUNK_PAIRS = 1 << 22


@dataclass
class DotaGroundTruth:
    """Objects of an image set, row-aligned: image index, polygon, class index, difficult flag."""

    class_names: list[str]
    images: list[str]  # image names (label file stems)
    image: np.ndarray  # int64 [G]
    quads: np.ndarray  # float64 [G, 8]
    category: np.ndarray  # int64 [G]
    difficult: np.ndarray  # bool [G]


def _label_rows(path: Path) -> list[tuple[list[float], str, bool]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.strip().split(" ")
        if len(fields) < 9:
            continue
        try:
            rows.append(([float(v) for v in fields[:8]], fields[8], len(fields) > 9 and int(fields[9]) != 0))
        except ValueError:
            raise YoloxkitError(f"{path}:{number}: expected 'x1 y1 ... y4 class [difficulty]', got {line!r}") from None
    return rows


def load_dota_ground_truth(folder: Path, class_names: Sequence[str] | None = None) -> DotaGroundTruth:
    """Read original DOTA labels (a ``labelTxt`` folder, or a folder holding one) by the devkit's rules.

    Classes: ``class_names`` if given, else the 15 DOTA-v1.0 classes when every name is one of
    them, else the sorted names found.
    """
    folder = Path(folder)
    labels = next((folder / name for name in LABEL_DIRS if (folder / name).is_dir()), folder)
    files = sorted(labels.glob("*.txt"))
    if not files:
        raise YoloxkitError(f"{folder}: no DOTA label files (*.txt) found")
    per_image = [_label_rows(path) for path in files]
    found = {name for rows in per_image for _, name, _ in rows}
    names = list(class_names) if class_names else infer_names(found, DOTA_V1_CLASSES)
    unknown = sorted(found - set(names))
    if unknown:
        raise YoloxkitError(f"{folder}: classes {unknown} are not in the class list {names}")
    index = {name: k for k, name in enumerate(names)}
    rows = [(i, quad, index[name], difficult) for i, image_rows in enumerate(per_image) for quad, name, difficult in image_rows]
    return DotaGroundTruth(
        names,
        [path.stem for path in files],
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 8),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=bool),
    )


class SparsePolygonIoU:
    """Exact polygon IoU of every same-image (detection, object) pair of one class, computed once.

    Only pairs whose axis-aligned extents touch get a polygon intersection (the others have
    IoU 0, as the devkit's candidate filter implies). The instance is the ``iou`` function given
    to :func:`yoloxkit.evaluation.voc.class_ap`, whose "boxes" are then ``[N, 1]`` row indices:
    the IoU of any pair is a lookup, and it is reused for every IoU threshold.
    """

    def __init__(self, det_image: np.ndarray, det_quads: np.ndarray, gt_image: np.ndarray, gt_quads: np.ndarray) -> None:
        self.num_gt = max(len(gt_image), 1)
        det_ext, gt_ext = polygon_extents(det_quads), polygon_extents(gt_quads)
        pairs = []
        for image in np.intersect1d(det_image, gt_image):
            dets, gts = np.flatnonzero(det_image == image), np.flatnonzero(gt_image == image)
            step = max(_CHUNK_PAIRS // len(gts), 1)
            for start in range(0, len(dets), step):
                d = dets[start : start + step]
                a, b = det_ext[d][:, None], gt_ext[gts][None]
                near = ((np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2])) >= 0).all(-1)
                rows, cols = np.nonzero(near)
                pairs.append((d[rows], gts[cols]))
        d_idx = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
        g_idx = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64)
        keys = d_idx * self.num_gt + g_idx
        order = np.argsort(keys)
        self.keys = keys[order]
        self.values = paired_iou(det_quads[d_idx[order]], gt_quads[g_idx[order]])

    def __call__(self, det_rows: np.ndarray, gt_rows: np.ndarray) -> np.ndarray:
        """IoU of paired row indices (``[P, 1]`` each)."""
        keys = det_rows[:, 0] * self.num_gt + gt_rows[:, 0]
        if not len(self.keys):
            return np.zeros(len(keys))
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.values[pos], 0.0)


@dataclass
class DotaResult:
    """Per-class AP at every COCO threshold (``ap[t, k]``, VOC07 11-point, devkit rules).

    ``angle_errors`` (when computed, :func:`yoloxkit.evaluation.rotated.evaluate_rotated` with ``angles=True``) adds the
    orientation errors of the matched objects to ``to_dict`` and ``summary``.
    """

    class_names: list[str]
    thresholds: tuple[float, ...]
    ap: np.ndarray  # [T, K]
    positives: np.ndarray  # int [K]: non-difficult objects per class
    detections: np.ndarray  # int [K]
    angle_errors: AngleErrors | None = None

    def class_ap50(self) -> dict[str, float]:
        """The official Task1 AP of every class (NaN for a class without objects in the evaluated images)."""
        return dict(zip(self.class_names, self.ap[self.thresholds.index(0.5)].tolist()))

    @property
    def evaluated_classes(self) -> np.ndarray:
        """Per class: whether it has non-difficult objects (an AP); the headline means are over these."""
        return ~np.isnan(self.ap[0])

    def metrics(self) -> dict[str, float]:
        """``mAP50_task1`` (official), ``AP50``, ``AP75`` and ``mAP`` (mean over 0.50:0.95), each the mean
        over the classes with objects (0 when no class has any); ``classes_evaluated`` counts them."""
        valid = self.evaluated_classes
        per_threshold = self.ap[:, valid].mean(1) if valid.any() else np.zeros(len(self.thresholds))
        return {
            "mAP50_task1": float(per_threshold[self.thresholds.index(0.5)]),
            "AP50": float(per_threshold[self.thresholds.index(0.5)]),
            "AP75": float(per_threshold[self.thresholds.index(0.75)]),
            "mAP": float(per_threshold.mean()),
            "classes_evaluated": int(valid.sum()),
        }

    def to_dict(self) -> dict:
        """JSON-ready metrics and per-class rows."""
        return {
            **self.metrics(),
            "per_class": [
                {"class": name, "AP50": None if np.isnan(self.ap[self.thresholds.index(0.5), k]) else float(self.ap[self.thresholds.index(0.5), k]),
                 "objects": int(self.positives[k]), "detections": int(self.detections[k])}
                for k, name in enumerate(self.class_names)
            ],
        } | ({"angle_errors": self.angle_errors.to_dict()} if self.angle_errors is not None else {})  # fmt: skip

    def summary(self) -> str:
        """Human-readable table: per-class Task1 AP50, then the headline numbers."""
        lines = [f"{'class':<22} {'AP50':>7} {'objects':>8} {'dets':>8}"]
        for row in self.to_dict()["per_class"]:
            ap50 = f"{row['AP50'] * 100:7.2f}" if row["AP50"] is not None else f"{'-':>7}"
            lines.append(f"{row['class']:<22} {ap50} {row['objects']:8d} {row['detections']:8d}")
        m = self.metrics()
        lines.append(
            f"Task1 mAP50 (VOC07 11-point) {m['mAP50_task1'] * 100:.2f} | "
            f"COCO-style AP50 {m['AP50'] * 100:.2f}  AP75 {m['AP75'] * 100:.2f}  mAP {m['mAP'] * 100:.2f} "
            f"(mean over the {m['classes_evaluated']} of {len(self.class_names)} classes with objects)"
        )
        if self.angle_errors is not None:
            lines += ["", "angle errors of the matched objects (rotated IoU >= 0.5, degrees)", self.angle_errors.summary()]
        return "\n".join(lines)


def evaluate_task1(
    gt: DotaGroundTruth,
    detections: Mapping[str, Task1Detections],
    thresholds: Sequence[float] = COCO_THRESHOLDS,
) -> DotaResult:
    """Score Task1 detections (``{class name: detections}``, e.g. from ``read_task1``) against ``gt``."""
    thresholds = tuple(float(t) for t in thresholds)
    if 0.5 not in thresholds:
        raise YoloxkitError(f"the IoU thresholds must include 0.5 (the Task1 metric), got {thresholds}")
    unknown = sorted(set(detections) - set(gt.class_names))
    if unknown:
        raise YoloxkitError(f"detections of classes {unknown} that the ground truth does not list ({gt.class_names})")
    image_index = {name: i for i, name in enumerate(gt.images)}
    num_classes = len(gt.class_names)
    ap = np.zeros((len(thresholds), num_classes))
    counts = np.zeros(num_classes, np.int64)
    for k, name in enumerate(gt.class_names):
        det = detections.get(name, Task1Detections([], np.zeros(0), np.zeros((0, 8))))
        missing = sorted({image for image in det.images if image not in image_index})
        if missing:
            raise YoloxkitError(f"Task1_{name}: detections on images without a label file: {missing[:5]}")
        det_image = np.array([image_index[image] for image in det.images], dtype=np.int64)
        g = gt.category == k
        counts[k] = len(det_image)
        iou = SparsePolygonIoU(det_image, det.quads, gt.image[g], gt.quads[g])
        det_rows, gt_rows = np.arange(len(det_image))[:, None], np.arange(int(g.sum()))[:, None]
        scores = np.asarray(det.scores, dtype=np.float64)
        devkit_order = np.argsort(-scores)  # exactly the devkit's call: NumPy's default sort decides ties
        for t, threshold in enumerate(thresholds):
            ap11, _ = class_ap(det_image, scores, det_rows, gt.image[g], gt_rows, gt.difficult[g], iou, threshold, devkit_order)
            ap[t, k] = ap11  # NaN for a class without non-difficult objects, as the devkit
    positives = np.bincount(gt.category[~gt.difficult], minlength=num_classes)
    return DotaResult(list(gt.class_names), thresholds, ap, positives, counts)


def ground_truth_of_split(dataset: Dataset, split: str) -> tuple[DotaGroundTruth, list[Path]]:
    """The polygons of ``split`` (qbox/rbox annotations) as devkit ground truth, and the image paths.

    Images are named by their position in the split; ``difficult`` objects are ignored by the metric.
    """
    from ..structures.boxes import BoxFormat

    if split not in dataset.splits:
        raise YoloxkitError(f"the dataset has no split {split!r} (it has {', '.join(dataset.splits)})")
    records = dataset.splits[split].images
    categories = sorted(dataset.categories, key=lambda c: c.id)
    index = {c.id: k for k, c in enumerate(categories)}
    rows = [(i, quad, index[int(cid)], bool(difficult))
            for i, record in enumerate(records)
            for quad, cid, difficult in zip(record.annotations.boxes.convert(BoxFormat.QBOX).tolist(),
                                            record.annotations.category_ids, record.annotations.difficult)]  # fmt: skip
    gt = DotaGroundTruth(
        [c.name for c in categories],
        [str(i) for i in range(len(records))],
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 8),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=bool),
    )
    return gt, [dataset.splits[split].path(record) for record in records]
