"""``yoloxkit mine``: which unlabelled images to label next (active learning), with pre-annotations.

Every image is predicted twice, as it is and mirrored (the mirror's detections mapped back), at a
low score threshold (``MINE_CONF``). Its uncertainty is the mean of two parts in [0, 1]:

* **flip disagreement**: ``1 - 2 * sum(min(s_a, s_b) * IoU) / (sum(s_a) + sum(s_b))`` over the
  detections of the two views, matched greedily one to one (same class, IoU >= 0.5, enclosing
  boxes for rotated models); 0 when both views agree exactly or both find nothing, 1 when nothing
  matches. A model unsure of an image changes its mind under a mirror.
* **low margin**: the mean over the image's detections of ``1 - |2 s - 1|``: 1 for a score of 0.5,
  0 for 0 or 1 (0 without detections).

The batch is chosen greedily for uncertainty and diversity: each step takes the image with the
highest ``uncertainty - DIVERSITY * similarity``, where ``similarity`` is its largest cosine
similarity with an already chosen image's appearance (an 8 x 8 grey thumbnail, mean-removed) so
that a batch is not many near-duplicates of one scene. The batch is written with the detections of
the unmirrored view at ``--conf`` as pre-annotations, in the format the user labels in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .augment.geometry import reflect_boxes
from .datasets.model import Annotations, Category, Dataset, ImageRecord, Split
from .ops.nms import box_iou
from .predictor import Predictor
from .structures import BoxFormat, Detections

#: Score threshold of both views (low: uncertain detections are the point).
MINE_CONF = 0.05
#: Weight of the similarity penalty in the greedy choice.
DIVERSITY = 0.5
MATCH_IOU = 0.5


@dataclass
class MinedImage:
    """One unlabelled image's uncertainty parts, appearance and its (unmirrored) detections."""

    path: Path
    disagreement: float
    margin: float
    feature: np.ndarray
    detections: Detections

    @property
    def uncertainty(self) -> float:
        return 0.5 * (self.disagreement + self.margin)


def mirrored(detections: Detections) -> Detections:
    """Detections of a mirrored image mapped back onto the image (left-right; the augmentation's :func:`reflect_boxes`)."""
    fmt = detections.boxes.format
    boxes = detections.boxes.numpy().convert(BoxFormat.QBOX if fmt.oriented else BoxFormat.XYXY)
    back = reflect_boxes(boxes, width=detections.image_size[1]).convert(fmt)
    return Detections(back, detections.scores, detections.class_ids, detections.class_names, detections.image_size, detections.source)


def flip_disagreement(a: Detections, b: Detections, iou: float = MATCH_IOU) -> float:
    """1 - score-weighted agreement of two detection sets of one image (see the module docstring)."""
    total = float(np.sum(a.scores) + np.sum(b.scores))
    if total <= 0:
        return 0.0
    xyxy_a, xyxy_b = (d.boxes.convert(BoxFormat.XYXY).numpy().data.astype(np.float64) for d in (a, b))
    overlaps = box_iou(torch.from_numpy(xyxy_a), torch.from_numpy(xyxy_b)).numpy()
    overlaps[a.class_ids[:, None] != b.class_ids[None, :]] = 0.0
    agreed, used = 0.0, np.zeros(len(b), dtype=bool)
    for i in np.argsort(-a.scores, kind="stable"):
        candidates = np.where(used, 0.0, overlaps[i])
        j = int(np.argmax(candidates)) if len(candidates) else -1
        if j >= 0 and candidates[j] >= iou:
            used[j] = True
            agreed += min(float(a.scores[i]), float(b.scores[j])) * float(candidates[j])
    return float(np.clip(1.0 - 2.0 * agreed / total, 0.0, 1.0))


def low_margin(detections: Detections) -> float:
    """Mean ``1 - |2 s - 1|`` over the detections (0 without any)."""
    if not len(detections):
        return 0.0
    return float(np.mean(1.0 - np.abs(2.0 * np.asarray(detections.scores, dtype=np.float64) - 1.0)))


def appearance(image: np.ndarray) -> np.ndarray:
    """An 8 x 8 grey thumbnail, mean removed, unit length (zeros for a flat image)."""
    grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (8, 8), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    grey -= grey.mean()
    norm = np.linalg.norm(grey)
    return grey / norm if norm > 0 else grey


def score_images(detector: Predictor, images: Sequence[tuple[Path, np.ndarray]]) -> list[MinedImage]:
    """Both views of each image through ``detector``; their uncertainty parts."""
    arrays = [image for _, image in images]
    names = [str(path) for path, _ in images]
    plain = detector.predict_arrays(arrays, names, conf=MINE_CONF)
    flipped = detector.predict_arrays([np.ascontiguousarray(a[:, ::-1]) for a in arrays], names, conf=MINE_CONF)
    mined = []
    for (path, image), a, b in zip(images, plain, flipped):
        a, _ = a.finite()
        b, _ = mirrored(b).finite()
        mined.append(MinedImage(path, flip_disagreement(a, b), low_margin(a), appearance(image), a))
    return mined


def choose_batch(mined: Sequence[MinedImage], budget: int, diversity: float = DIVERSITY) -> list[int]:
    """Indices of the ``budget`` images chosen greedily for uncertainty minus similarity to those already chosen."""
    if not mined:
        return []
    uncertainty = np.array([m.uncertainty for m in mined])
    features = np.stack([m.feature for m in mined])
    similarity = np.zeros(len(mined))
    chosen: list[int] = []
    available = np.ones(len(mined), dtype=bool)
    for _ in range(min(budget, len(mined))):
        gain = np.where(available, uncertainty - diversity * similarity, -np.inf)
        pick = int(np.argmax(gain))
        chosen.append(pick)
        available[pick] = False
        similarity = np.maximum(similarity, features @ features[pick])
    return chosen


def batch_dataset(mined: Sequence[MinedImage], chosen: Sequence[int], class_names: Sequence[str], conf: float, root: Path) -> Dataset:
    """The chosen images as a dataset whose labels are the detections at ``conf`` (pre-annotations)."""
    oriented = any(mined[i].detections.boxes.format.oriented for i in chosen)
    box_format = BoxFormat.RBOX if oriented else BoxFormat.XYXY
    records = []
    for number, i in enumerate(chosen, start=1):
        item = mined[i]
        shown, _ = item.detections.select(item.detections.scores >= conf).for_output()
        boxes = shown.boxes.convert(box_format).numpy().data.tolist()
        annotations = Annotations.from_lists(box_format, boxes, [int(c) + 1 for c in shown.class_ids]) if len(shown) else Annotations.empty(box_format)
        height, width = item.detections.image_size
        records.append(ImageRecord(item.path.resolve().relative_to(root).as_posix(), width, height, annotations, number))
    categories = [Category(k + 1, name) for k, name in enumerate(class_names)]
    return Dataset(categories, {"train": Split("train", root, records)}, box_format, "mine", str(root))
