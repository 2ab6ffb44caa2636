"""Predictions as flat arrays: from :class:`~yoloxkit.structures.Detections` or COCO results JSON.

A COCO results file is a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
"score"}`` entries (what ``yoloxkit predict`` writes as ``predictions_coco.json`` and what any
COCO-style detector exports). Every problem is reported as one line naming the entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.fileio import parse_json
from ..errors import YoloxkitError
from ..structures import BoxFormat, Detections
from .groundtruth import GroundTruth

_KEYS = ("image_id", "category_id", "bbox", "score")


@dataclass(eq=False)
class PredictionArrays:
    """Detections column-wise: image index, class index, COCO box, score (insertion order kept)."""

    image: np.ndarray  # int64 [D]
    category: np.ndarray  # int64 [D]
    xywh: np.ndarray  # float64 [D, 4]
    score: np.ndarray  # float64 [D]

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def concat(cls, parts: Sequence[PredictionArrays]) -> PredictionArrays:
        """All parts in order (an empty list gives no detections)."""
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("image", "category", "xywh", "score")))


def read_results(path: str | Path) -> list[dict]:
    """The entries of a COCO results JSON file (a list, possibly empty)."""
    path = Path(path)
    if not path.is_file():
        raise YoloxkitError(f"predictions file not found: {path}")
    try:
        data = parse_json(path.read_text(encoding="utf-8-sig") or "null")
    except json.JSONDecodeError as exc:
        raise YoloxkitError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})") from None
    except UnicodeDecodeError:
        raise YoloxkitError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, list):
        raise YoloxkitError(f"{path}: expected a COCO results list [{{image_id, category_id, bbox, score}}, ...]")
    return data


def from_results(results: Sequence[dict], gt: GroundTruth, name: str = "predictions") -> PredictionArrays:
    """Validated arrays of COCO results entries; unknown images or categories are an error."""
    columns = _columns(results)
    if columns is None:  # something is malformed: find the first bad entry for the message
        i, entry = next((i, e) for i, e in enumerate(results) if not _valid_entry(e))
        raise YoloxkitError(
            f"{name}[{i}]: each entry needs an integer image_id and category_id, bbox [x, y, w, h] and a "
            f"number score; got {json.dumps(entry)[:120]}"
        )
    image_ids, category_ids, xywh, score = columns
    image = gt.image_index(image_ids)
    _reject_unknown(name, "image ids", image_ids[image < 0], "not in the evaluated split")
    category = gt.class_index(category_ids)
    _reject_unknown(name, "category ids", category_ids[category < 0], f"not among {_id_range(gt.category_ids)}")
    _check_values(name, xywh, score)
    return PredictionArrays(image, category, xywh, score)


def from_detections(image_ids: Sequence[int], detections: Sequence[Detections], gt: GroundTruth) -> PredictionArrays:
    """Arrays of per-image Detections (class index = position in the sorted category ids).

    Boxes become ``[x, y, w, h]`` exactly as :meth:`Detections.to_coco` writes them, so evaluating
    the written results file gives the same numbers.
    """
    if len(image_ids) != len(detections):
        raise YoloxkitError(f"{len(image_ids)} image ids for {len(detections)} Detections")
    ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
    index = gt.image_index(ids)
    _reject_unknown("detections", "image ids", ids[index < 0], "not in the evaluated split")
    counts = [len(d) for d in detections]
    parts = [d.boxes.convert(BoxFormat.XYWH).numpy().data.astype(np.float64).reshape(-1, 4) for d in detections]
    classes = np.concatenate(
        [np.asarray(d.class_ids, dtype=np.int64).reshape(-1) for d in detections] or [np.zeros(0, np.int64)]
    )
    bad = classes[(classes < 0) | (classes >= gt.num_classes)]
    if len(bad):
        raise YoloxkitError(f"class index {int(bad[0])} out of range: the dataset has {gt.num_classes} categories")
    xywh = np.concatenate(parts) if parts else np.zeros((0, 4))
    score = np.concatenate([np.asarray(d.scores).astype(np.float64).reshape(-1) for d in detections] or [np.zeros(0)])
    _check_values("detections", xywh, score)
    return PredictionArrays(np.repeat(index, counts).astype(np.int64), classes, xywh, score)


def _columns(results: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Image ids, category ids, boxes and scores in one vectorised pass; None if any entry is malformed."""
    n = len(results)
    try:
        ids = [r["image_id"] for r in results]
        cats = [r["category_id"] for r in results]
        xywh = np.array([r["bbox"] for r in results] or np.zeros((0, 4)))
        score = np.array([r["score"] for r in results] or np.zeros(0))
    except (KeyError, TypeError, IndexError, ValueError):
        return None
    ints = {type(v) for v in ids} | {type(v) for v in cats} <= {int}
    if (
        not ints
        or xywh.dtype.kind not in "iuf"
        or xywh.shape != (n, 4)
        or score.dtype.kind not in "iuf"
        or score.shape != (n,)
    ):
        return None
    return np.array(ids, np.int64), np.array(cats, np.int64), xywh.astype(np.float64), score.astype(np.float64)


def _valid_entry(entry: object) -> bool:
    if not isinstance(entry, dict) or any(k not in entry for k in _KEYS):
        return False
    ints = all(isinstance(entry[k], int) and not isinstance(entry[k], bool) for k in ("image_id", "category_id"))
    box = entry["bbox"]
    numbers = isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)
    return ints and numbers and _is_number(entry["score"])


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_values(name: str, xywh: np.ndarray, score: np.ndarray) -> None:
    bad = ~np.isfinite(xywh).all(1) | ~np.isfinite(score) | (xywh[:, 2] < 0) | (xywh[:, 3] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise YoloxkitError(
            f"{name}[{i}]: bbox {xywh[i].tolist()} score {score[i]}: boxes need finite x, y, w >= 0, h >= 0 "
            "and a finite score"
        )


def _reject_unknown(name: str, what: str, unknown: np.ndarray, why: str) -> None:
    if len(unknown):
        examples = ", ".join(str(v) for v in np.unique(unknown)[:5].tolist())
        raise YoloxkitError(f"{name}: {len(unknown)} entries have {what} {why} (e.g. {examples})")


def _id_range(ids: np.ndarray) -> str:
    if len(ids) == 0:
        return "the dataset's categories (it has none)"
    return f"the dataset's category ids {int(ids.min())}..{int(ids.max())} ({len(ids)} categories)"
