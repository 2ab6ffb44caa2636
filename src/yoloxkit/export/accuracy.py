"""mAP difference between PyTorch and an exported model on a labelled dataset.

Both detectors are evaluated by :func:`yoloxkit.evaluation.evaluate` on the same split at the
reference's test settings (conf 0.001, NMS IoU 0.65), so the comparison includes everything
``predict`` does. Only ``decoded`` exports can be evaluated this way: a graph with NMS has its
thresholds baked in, and a raw graph leaves the decode to the caller.

Rotated models are evaluated by :func:`yoloxkit.evaluation.rotated.evaluate_rotated` instead (the
DOTA-devkit Task1 rules at the reference's test settings, score 0.01, rotated NMS 0.1) on an
oriented dataset, and compared by its COCO-style ``mAP`` (mean AP over IoU 0.50:0.95) with the
same tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..detector import Detector
from .runtime import ExportedDetector

#: Largest |AP(exported) - AP(PyTorch)| accepted for FP32 exports (COCO AP@[.5:.95], as a fraction).
MAP_TOLERANCE = 1e-3
#: The same by exported precision: reduced precisions are allowed a stated drop.
MAP_TOLERANCES = {"fp32": MAP_TOLERANCE, "fp16": 3e-3, "bf16": 5e-3, "int8": 1.5e-2}
#: Precisions whose exports must reproduce PyTorch's AP in both directions (any change is a bug);
#: the others are held to a largest drop (rounding can also raise AP on a small split).
EXACT_PRECISIONS = ("fp32",)


@dataclass(frozen=True)
class MapComparison:
    """COCO AP of both sides on one split and whether they agree within ``tolerance``."""

    file: str
    ap_pytorch: float
    ap_exported: float
    tolerance: float = MAP_TOLERANCE
    two_sided: bool = True  # False: only a drop beyond the tolerance fails

    @property
    def difference(self) -> float:
        """AP(exported) - AP(PyTorch)."""
        return self.ap_exported - self.ap_pytorch

    @property
    def passed(self) -> bool:
        """Whether the difference is within the tolerance (or, one-sided, no drop beyond it)."""
        return (abs(self.difference) if self.two_sided else -self.difference) <= self.tolerance

    def summary(self) -> str:
        """One line for the export log."""
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"mAP {self.file}: PyTorch {self.ap_pytorch:.4f}, exported {self.ap_exported:.4f}, "
            f"difference {self.difference:+.4f} (tolerance {'' if self.two_sided else 'drop '}{self.tolerance:g}): {verdict}"
        )

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return dict(vars(self)) | {"difference": self.difference, "passed": self.passed}


def compare_map(
    detector: Detector, exported: ExportedDetector, data: str | Path, split: str = "val", batch_size: int = 8
) -> MapComparison:
    """Evaluate ``detector`` and ``exported`` on ``split`` of ``data``; return both COCO APs
    (rotated models: both DOTA-rule mAPs, see the module docstring).

    The tolerance is that of the exported model's precision (:data:`MAP_TOLERANCES`): both ways
    for fp32, a largest drop for the reduced precisions.
    """
    ap = [_average_precision(d, data, split, batch_size) for d in (detector, exported)]
    precision = exported.backend.precision
    return MapComparison(
        exported.backend.path.name, float(ap[0]), float(ap[1]), MAP_TOLERANCES[precision], precision in EXACT_PRECISIONS
    )


def _average_precision(detector: Detector, data: str | Path, split: str, batch_size: int) -> float:
    """COCO AP@[.5:.95] of an axis-aligned detector; DOTA-rule mAP (IoU 0.50:0.95) of a rotated one."""
    if detector.rotated:
        from ..evaluation.rotated import evaluate_rotated

        return evaluate_rotated(detector, data, split, batch=batch_size).metrics()["mAP"]
    from ..evaluation import evaluate

    return evaluate(detector, data, split, batch_size=batch_size).coco["AP"]
