"""TIDE-style error breakdown (Bolya et al., ECCV 2020) on top of COCO's matching at IoU 0.5.

Every detection COCO counts as a false positive (all sizes, at most 100 per image and class) gets
one type, tested in TIDE's order with its thresholds ``fg = 0.5`` and ``bg = 0.1``:

- **Loc**: best IoU with an object of its class in ``[bg, fg]`` (found, badly placed);
- **Cls**: IoU >= ``fg`` with an object of another class (placed, wrong class);
- **Dupe**: IoU >= ``fg`` with an object of its class that a higher-scoring detection took;
- **Bkg**: IoU <= ``bg`` with every object (fired on background);
- **Both**: anything else (wrong class and badly placed).

An object nobody matched is **Miss** unless a Cls or Loc error points at it. The AP each type
costs is measured as TIDE does, by fixing only that type and recomputing mAP50 (COCO's 101-point
interpolation): a Cls or Loc error becomes a TP of its object's class (only the highest-scoring
one per object; the others and those pointing at a taken object are suppressed), Dupe, Bkg and
Both errors are removed, missed objects are removed from the ground truth. Gains below zero
(binning noise) count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cocometrics import interpolated_precision
from .groundtruth import GroundTruth
from .matching import RankedDetections
from .overlaps import Overlaps
from .pairs import run_heads

ERROR_TYPES = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")


@dataclass
class ErrorBreakdown:
    """Counts of each error type and the mAP50 fixing it would add."""

    ap50: float  # mAP50 before any fix
    counts: dict[str, int]
    delta_ap: dict[str, float]
    kind: np.ndarray  # int [D]: index into ERROR_TYPES of each detection's error, -1 if none
    missed: np.ndarray  # bool [G]

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "ap50": self.ap50,
            "counts": self.counts,
            "delta_ap50": {k: round(v, 6) for k, v in self.delta_ap.items()},
        }


def ap50_per_class(
    dets: RankedDetections, category: np.ndarray, tp: np.ndarray, counted: np.ndarray, positives: np.ndarray
) -> np.ndarray:
    """COCO AP at IoU 0.5 per class (101-point interpolation); NaN for classes without objects."""
    sel = np.flatnonzero(counted)
    sel = sel[np.lexsort((dets.rank[sel], dets.image[sel], -dets.score[sel], category[sel]))]
    bounds = np.searchsorted(category[sel], np.arange(len(positives) + 1))
    q, _ = interpolated_precision(tp[None, sel], ~tp[None, sel], bounds, positives[None, :])
    return np.where(positives > 0, q[0].mean(1), np.nan)


def error_breakdown(
    gt: GroundTruth,
    dets: RankedDetections,
    gt_index: np.ndarray,
    counted: np.ndarray,
    overlaps: Overlaps,
    positives: np.ndarray,
    fg: float = 0.5,
    bg: float = 0.1,
) -> ErrorBreakdown:
    """Classify the false positives and misses, and the mAP50 gained by fixing each type."""
    tp = counted & (gt_index >= 0)
    fp = counted & (gt_index < 0)
    loc = fp & (overlaps.same_iou >= bg) & (overlaps.same_iou <= fg)
    cls = fp & ~loc & (overlaps.other_iou >= fg)
    dupe = fp & ~loc & ~cls & (overlaps.taken_same_iou >= fg)
    bkg = fp & ~loc & ~cls & ~dupe & (overlaps.max_iou <= bg)
    both = fp & ~(loc | cls | dupe | bkg)
    g = len(gt.image)  # index g: "no object", a sentinel that is never taken
    taken = np.zeros(g + 1, bool)
    taken[gt_index[tp]] = True
    target = np.where(loc, overlaps.same_gt, np.where(cls, overlaps.other_gt, g))
    fixable = np.flatnonzero((loc | cls) & ~taken[target])
    fixable = fixable[np.lexsort((fixable, -dets.score[fixable], target[fixable]))]
    fixer = np.zeros(len(dets), bool)
    fixer[fixable[run_heads(target[fixable])]] = True  # the highest-scoring error per object
    usable = np.zeros(g + 1, bool)
    usable[target[fixable]] = True
    missed = ~gt.crowd & ~taken[:g] & ~usable[:g]
    target_class = np.append(gt.category, 0)[target]

    valid = positives > 0

    def map50(category: np.ndarray, hits: np.ndarray, kept: np.ndarray, npig: np.ndarray = positives) -> float:
        ap = ap50_per_class(dets, category, hits, kept, npig)
        return float(np.mean(np.nan_to_num(ap[valid]))) if valid.any() else 0.0

    base = map50(dets.category, tp, counted)
    fixed = {
        "Cls": map50(np.where(cls & fixer, target_class, dets.category), tp | (cls & fixer), counted & ~(cls & ~fixer)),
        "Loc": map50(dets.category, tp | (loc & fixer), counted & ~(loc & ~fixer)),
        "Both": map50(dets.category, tp, counted & ~both),
        "Dupe": map50(dets.category, tp, counted & ~dupe),
        "Bkg": map50(dets.category, tp, counted & ~bkg),
        "Miss": map50(
            dets.category, tp, counted, positives - np.bincount(gt.category[missed], minlength=len(positives))
        ),
    }
    masks = (cls, loc, both, dupe, bkg)
    kind = np.full(len(dets), -1)
    for i, mask in enumerate(masks):
        kind[mask] = i
    counts = {name: int(mask.sum()) for name, mask in zip(ERROR_TYPES, masks)} | {"Miss": int(missed.sum())}
    delta = {name: max(value - base, 0.0) for name, value in fixed.items()}
    return ErrorBreakdown(base, counts, delta, kind, missed)
