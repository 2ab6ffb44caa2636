"""Label audit: likely label errors, ranked, from out-of-fold predictions.

Each image's labels are compared with predictions of a model that did not train on them
(``train --fold all`` writes them). Four kinds of suspect, each with a score in [0, 1] (higher:
more likely an error) and its evidence:

- ``missing``: a confident prediction that no label explains: it overlaps no label (IoU <
  ``touch``), or only labels that another same-class prediction fits well (IoU >= ``match``):
  an object nobody labelled. Score: the prediction's score x (1 - its highest IoU with a label):
  a prediction half over an object already found is more often a second, worse guess of it than
  an object nobody labelled, so it ranks below a lone one.
- ``loose``: a label whose most confident same-class prediction among those overlapping it
  (IoU >= ``loose_floor``) and fitting no other label better overlaps it only partly (IoU <
  ``tight``): a badly drawn box.
  Score: prediction score x (1 - IoU).
- ``spurious``: a label that no prediction of any class supports (no prediction with IoU >=
  ``touch`` and score >= ``support``) and that is not a loose box. Score: 1 - the best score of a
  same-class prediction overlapping it at all.
- ``class``: a label on which a confident prediction of another class sits (IoU >= ``match``)
  while no same-class prediction there scores even half as much, and the label's loose evidence
  (if any) is a less sure guess than it (a surer same-class guess beside the label makes it
  loose instead). Score: that prediction's score.

"Confident" is relative to the model: per class, the ``hit_quantile`` quantile of the scores the
model gives the labelled objects it finds (each label's best same-class prediction at IoU >=
``match``) when the class has at least ``min_hits`` of them (else the same over all classes;
with fewer, ``confident``), and never above ``confident``. An under-confident model (its hits
scored around 0.4) is trusted at the scores it gives real objects, a well-calibrated one at
``confident``. Suspects are sorted by score: review from the top.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..datasets import Dataset
from ..datasets.load import common_root, image_key
from ..structures.boxes import BoxFormat, convert
from .voc import xywh_iou

KINDS = ("missing", "spurious", "class", "loose")


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds of the four kinds (see the module docstring)."""

    confident: float = 0.5
    support: float = 0.05
    touch: float = 0.3
    match: float = 0.5
    tight: float = 0.6
    loose_floor: float = 0.1
    hit_quantile: float = 0.1
    min_hits: int = 20


@dataclass
class Suspect:
    """One likely label error."""

    image: str  # the image's file name, as the predictions name it
    kind: str
    score: float
    label_index: int | None  # index of the label in the image (None for a missing object)
    category_id: int  # the label's class (missing: the predicted class)
    box: list[float]  # [x, y, w, h]: the label's box (missing: the prediction's)
    evidence: dict  # the prediction behind it: category_id, box, score, iou


@dataclass(frozen=True)
class ImagePredictions:
    """One image's labels and predictions as arrays (boxes ``[x, y, w, h]``)."""

    labels: np.ndarray
    label_classes: np.ndarray
    preds: np.ndarray
    pred_classes: np.ndarray
    scores: np.ndarray

    @cached_property
    def iou(self) -> np.ndarray:
        """IoU [L, P] of every label with every prediction (computed once)."""
        if not len(self.labels) or not len(self.preds):
            return np.zeros((len(self.labels), len(self.preds)))
        pairs = np.repeat(self.preds[None], len(self.labels), 0).reshape(-1, 4)
        return xywh_iou(pairs, np.repeat(self.labels, len(self.preds), 0)).reshape(len(self.labels), len(self.preds))


def confidence_thresholds(images: list[ImagePredictions], settings: AuditSettings = AuditSettings()) -> dict[int, float]:
    """Per class, the score from which a prediction counts as confident (see the module docstring)."""
    hits: dict[int, list[float]] = {}
    for im in images:
        iou = im.iou
        for k, c in enumerate(im.label_classes.tolist()):
            found = (im.pred_classes == c) & (iou[k] >= settings.match)
            if found.any():
                hits.setdefault(int(c), []).append(float(im.scores[found].max()))

    def level(scores: list[float]) -> float:
        return min(settings.confident, float(np.quantile(scores, settings.hit_quantile)))

    pooled = [x for values in hits.values() for x in values]
    fallback = level(pooled) if len(pooled) >= settings.min_hits else settings.confident
    classes = {int(c) for im in images for c in (*im.label_classes.tolist(), *im.pred_classes.tolist())}
    return {c: level(hits[c]) if len(hits.get(c, ())) >= settings.min_hits else fallback for c in sorted(classes)}


def audit_image(image: str, data: ImagePredictions, thresholds: dict[int, float], settings: AuditSettings = AuditSettings()) -> list[Suspect]:
    """The suspects of one image; ``thresholds``: per class, the confident score."""
    s, out = settings, []
    labels, label_classes, preds, pred_classes, scores = data.labels, data.label_classes, data.preds, data.pred_classes, data.scores
    iou = data.iou
    same = label_classes[:, None] == pred_classes[None, :]
    confident = scores >= np.array([thresholds.get(int(c), s.confident) for c in pred_classes.tolist()])
    # a label is explained when a confident same-class prediction fits it well
    explained = (same & confident[None, :] & (iou >= s.match)).any(1)

    def evidence(p: int, overlap: float) -> dict:
        return {"category_id": int(pred_classes[p]), "box": preds[p].tolist(), "score": float(scores[p]), "iou": round(float(overlap), 4)}

    loose = {k: _loose_prediction(k, iou, scores, same[k] & confident, s) for k in range(len(labels))}
    shown_loose = {p for p in loose.values() if p is not None}
    for p in np.flatnonzero(confident):
        column = iou[:, p]
        # no label fits it, each label it touches is fitted by another prediction, and it does
        # not show a label badly drawn
        if p not in shown_loose and (not len(labels) or (column.max() < s.match and not ((column >= s.touch) & ~explained).any())):
            overlap = column.max() if len(labels) else 0.0
            out.append(Suspect(image, "missing", float(scores[p] * (1 - overlap)), None, int(pred_classes[p]), preds[p].tolist(), evidence(p, overlap)))
    for k in range(len(labels)):
        row, mine = iou[k], same[k]
        other = (~mine) & (row >= s.match) & confident
        if other.any():
            p = int(np.flatnonzero(other)[np.argmax(scores[other])])
            rival = mine & (row >= s.match)
            surer_loose = loose[k] is not None and scores[loose[k]] >= scores[p]  # the model's surer guess, partly off the label
            if not surer_loose and (not rival.any() or scores[rival].max() < 0.5 * scores[p]):
                out.append(Suspect(image, "class", float(scores[p]), k, int(label_classes[k]), labels[k].tolist(), evidence(p, row[p])))
                continue
        p = loose[k]
        if p is not None:
            out.append(Suspect(image, "loose", float(scores[p] * (1 - row[p])), k, int(label_classes[k]), labels[k].tolist(), evidence(p, row[p])))
        elif not ((row >= s.touch) & (scores >= s.support)).any():
            near = mine & (row > 0)
            best = float(scores[near].max()) if near.any() else 0.0
            out.append(Suspect(image, "spurious", 1.0 - best, k, int(label_classes[k]), labels[k].tolist(), {"best_same_class_score": best}))
    return out


def _loose_prediction(k: int, iou: np.ndarray, scores: np.ndarray, candidates: np.ndarray, s: AuditSettings) -> int | None:
    """The prediction that shows label ``k`` badly drawn: among the confident same-class
    ``candidates`` that overlap it (IoU >= loose_floor) and fit no other label better, the
    highest-scoring one (the model's own best guess of the object), if its overlap is below
    ``tight``; else None."""
    row = iou[k]
    fits_other = (np.delete(iou, k, axis=0) >= row[None, :]).any(0) if len(iou) > 1 else np.zeros(len(row), bool)
    usable = candidates & ~fits_other & (row >= s.loose_floor)
    if not usable.any():
        return None
    p = int(np.flatnonzero(usable)[np.argmax(scores[usable])])
    return p if row[p] < s.tight else None


def audit(
    labels: dict[str, tuple[np.ndarray, np.ndarray]], predictions: list[dict], settings: AuditSettings = AuditSettings()
) -> tuple[list[Suspect], dict[int, float]]:
    """Suspects of every labelled image, most likely first, and the per-class confident scores
    used. ``labels``: file name -> (``[x, y, w, h]`` boxes, category ids); ``predictions``: COCO
    results entries with a ``file_name``."""
    by_image: dict[str, list[dict]] = {}
    for entry in predictions:
        by_image.setdefault(entry["file_name"], []).append(entry)
    images = {}
    for image, (boxes, classes) in labels.items():
        entries = by_image.get(image, [])
        images[image] = ImagePredictions(
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(classes, dtype=np.int64),
            np.array([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4),
            np.array([e["category_id"] for e in entries], dtype=np.int64), np.array([e["score"] for e in entries], dtype=np.float64),
        )  # fmt: skip
    thresholds = confidence_thresholds(list(images.values()), settings)
    suspects = [x for image, data in images.items() for x in audit_image(image, data, thresholds, settings)]
    suspects.sort(key=lambda x: (-x.score, x.image, x.label_index if x.label_index is not None else -1))
    return suspects, thresholds


def to_records(suspects: list[Suspect], names: dict[int, str]) -> list[dict]:
    """``audit.json`` rows: each suspect with its rank (1 = most likely) and its class name."""
    return [{"rank": rank} | asdict(x) | {"class": names.get(x.category_id, str(x.category_id))} for rank, x in enumerate(suspects, start=1)]


def dataset_labels(dataset: Dataset) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Path]]:
    """What :func:`audit` reads of a dataset: per image, keyed as out-of-fold predictions name it
    (``file_name``), its non-crowd boxes ``[x, y, w, h]`` and category ids; and its file path."""
    root, labels, paths = common_root(dataset), {}, {}
    for split, image in dataset.items():
        ann = image.annotations.select(~image.annotations.iscrowd)
        xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY) if len(ann) else np.zeros((0, 4))
        key = image_key(root, split, image)
        labels.setdefault(key, (convert(xyxy, BoxFormat.XYXY, BoxFormat.XYWH), ann.category_ids))
        paths.setdefault(key, split.path(image))
    return labels, paths
