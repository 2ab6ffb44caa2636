"""Label audit: likely label errors, ranked, from out-of-fold predictions.

Each image's labels are compared with predictions of a model that did not train on them
(``train --fold all`` writes them). Four kinds of suspect, each with a score in [0, 1] (higher:
more likely an error) and its evidence:

- ``missing``: a confident prediction (score >= ``confident``) that overlaps no label of any
  class (IoU < ``touch``): an object nobody labelled. Score: the prediction's score.
- ``spurious``: a label that no prediction of any class supports (no prediction with IoU >=
  ``touch`` and score >= ``support``). Score: 1 - the best score of a same-class prediction
  overlapping it at all.
- ``class``: a label on which a confident prediction of another class sits (IoU >= ``match``)
  while no same-class prediction there scores even half as much. Score: that prediction's score.
- ``loose``: a label whose best confident same-class prediction overlaps it only partly
  (``touch`` <= IoU < ``tight``): a badly drawn box. Score: prediction score x (1 - IoU).

Suspects are sorted by score. The thresholds are defaults for models trained to convergence;
lower ``confident`` finds more with more false alarms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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


def _pairwise(labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """IoU [L, P] of ``[x, y, w, h]`` rows."""
    if not len(labels) or not len(preds):
        return np.zeros((len(labels), len(preds)))
    return xywh_iou(np.repeat(preds[None], len(labels), 0).reshape(-1, 4), np.repeat(labels, len(preds), 0)).reshape(len(labels), len(preds))


def audit_image(
    image: str, labels: np.ndarray, label_classes: np.ndarray, preds: np.ndarray, pred_classes: np.ndarray,
    scores: np.ndarray, settings: AuditSettings = AuditSettings(),
) -> list[Suspect]:  # fmt: skip
    """The suspects of one image (boxes ``[x, y, w, h]``)."""
    s, out = settings, []
    iou = _pairwise(labels, preds)
    same = label_classes[:, None] == pred_classes[None, :]

    def evidence(p: int, overlap: float) -> dict:
        return {"category_id": int(pred_classes[p]), "box": preds[p].tolist(), "score": float(scores[p]), "iou": round(float(overlap), 4)}

    for p in np.flatnonzero(scores >= s.confident):
        if not len(labels) or iou[:, p].max() < s.touch:
            out.append(Suspect(image, "missing", float(scores[p]), None, int(pred_classes[p]), preds[p].tolist(), evidence(p, iou[:, p].max() if len(labels) else 0.0)))
    for k in range(len(labels)):
        row, mine = iou[k], same[k]
        supported = (row >= s.touch) & (scores >= s.support)
        if not supported.any():
            near = mine & (row > 0)
            best = float(scores[near].max()) if near.any() else 0.0
            out.append(Suspect(image, "spurious", 1.0 - best, k, int(label_classes[k]), labels[k].tolist(), {"best_same_class_score": best}))
            continue
        other = (~mine) & (row >= s.match) & (scores >= s.confident)
        if other.any():
            p = int(np.flatnonzero(other)[np.argmax(scores[other])])
            rival = mine & (row >= s.match)
            if not rival.any() or scores[rival].max() < 0.5 * scores[p]:
                out.append(Suspect(image, "class", float(scores[p]), k, int(label_classes[k]), labels[k].tolist(), evidence(p, row[p])))
                continue
        confident_same = mine & (scores >= s.confident) & (row >= s.touch)
        if confident_same.any():
            p = int(np.flatnonzero(confident_same)[np.argmax(row[confident_same])])
            if row[p] < s.tight:
                out.append(Suspect(image, "loose", float(scores[p] * (1 - row[p])), k, int(label_classes[k]), labels[k].tolist(), evidence(p, row[p])))
    return out


def audit(
    labels: dict[str, tuple[np.ndarray, np.ndarray]], predictions: list[dict], settings: AuditSettings = AuditSettings()
) -> list[Suspect]:
    """Suspects of every labelled image, most likely first. ``labels``: file name -> (``[x, y, w,
    h]`` boxes, category ids); ``predictions``: COCO results entries with a ``file_name``."""
    by_image: dict[str, list[dict]] = {}
    for entry in predictions:
        by_image.setdefault(entry["file_name"], []).append(entry)
    suspects: list[Suspect] = []
    for image, (boxes, classes) in labels.items():
        entries = by_image.get(image, [])
        preds = np.array([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4)
        pred_classes = np.array([e["category_id"] for e in entries], dtype=np.int64)
        scores = np.array([e["score"] for e in entries], dtype=np.float64)
        suspects += audit_image(image, boxes, classes, preds, pred_classes, scores, settings)
    suspects.sort(key=lambda x: (-x.score, x.image, x.label_index if x.label_index is not None else -1))
    return suspects


def to_records(suspects: list[Suspect], names: dict[int, str]) -> list[dict]:
    """``audit.json`` rows: each suspect with its rank (1 = most likely) and its class name."""
    return [{"rank": rank} | asdict(x) | {"class": names.get(x.category_id, str(x.category_id))} for rank, x in enumerate(suspects, start=1)]
