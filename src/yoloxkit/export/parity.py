"""The parity check run after every export: exported model vs PyTorch on the same real images.

Both sides get the same batches from :func:`~yoloxkit.data.preprocess.preprocess_batch`. The
PyTorch side is the module that was traced (BN-folded network, float32, eager), so the check
measures what the export changed and nothing else; for NMS graphs it is that module's decoded
output followed by :func:`yoloxkit.ops.postprocess` (the rows ``Detector.predict`` uses).

Batches: static exports run batches of the exported size; dynamic exports run one image
alone, batches of up to 3 different images, and a batch of 2 at a second, non-square input
size (half the width), which exercises the dynamic height/width and the decode's grid.

Tolerances (:class:`Tolerance`): probabilities (objectness, class) by absolute difference;
box coordinates (pixels, or raw regression values) by ``atol + rtol * |PyTorch value|``,
because float32 spacing grows with the value (one ulp at 640 px is 6e-5 px). NMS graphs must
give the same number of rows per image and the same class indices, and rows within the same
tolerances. Rotated exports (decoded ``[B, N, 6 + C]``, no NMS in the graph) compare the
angle column separately, in radians, modulo pi, with the box tolerance (the le90 wrap may put one side's angle at
``-pi/2`` and the other's just below ``pi/2``: the same rectangle); then
both sides go through :func:`yoloxkit.ops.rotated_postprocess` at the thresholds of the
metadata's ``postprocess`` (the reference's test settings) and the final detections are matched
as sets (same class, values within the tolerance; NMS swaps and score-threshold flickers are
explained, a few others may lack a counterpart, see :data:`~yoloxkit.export.rotated_parity.ROTATED_UNMATCHED_SHARE`). When a check fails, the report also gives how far PyTorch float32 itself is from a
float64 evaluation on the first batch: a large figure there means the model amplifies rounding,
not that the export is wrong.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.preprocess import PreprocessContract, preprocess_batch
from ..detector import Detector
from ..ops import postprocess
from ..structures.boxes import angle_difference
from .backends import Backend
from .graph import ExportModule
from .metadata import ExportMetadata
from .rotated_parity import compare_rotated_detections
from .tolerance import TOLERANCES, UNGATED, Tolerance  # noqa: F401 - re-exported

@dataclass
class ParityReport:
    """What the parity check compared and found."""

    backend: str
    file: str
    images: int
    batches: list[str]
    tolerance: Tolerance
    max_abs: dict[str, float] = field(default_factory=dict)  # part -> max |exported - PyTorch|
    failures: list[str] = field(default_factory=list)
    detections: int | None = None  # NMS graphs and rotated exports: PyTorch detections compared
    unmatched: int | None = None  # rotated exports: unexplained detections without a counterpart (per side)
    explained: int | None = None  # rotated exports: without a counterpart, explained by an NMS swap or the threshold
    float64_floor: dict[str, float] | None = None  # filled in when failing

    @property
    def passed(self) -> bool:
        """Whether every comparison was within tolerance."""
        return not self.failures

    def summary(self) -> str:
        """One line: what ran, the largest differences, PASS or FAIL."""
        diffs = ", ".join(f"{part} {value:.2g}" for part, value in self.max_abs.items()) or "not compared (row counts only)"
        rows = f", {self.detections} PyTorch detections compared" if self.detections is not None else ""
        if self.unmatched is not None:
            rows += f" ({self.unmatched} without counterpart, {self.explained} explained by NMS swaps or the score threshold)"
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.failures[:3])
        if self.float64_floor:
            floor = ", ".join(f"{part} {value:.2g}" for part, value in self.float64_floor.items())
            verdict += f" (PyTorch float32 vs float64 on these images: {floor})"
        return (
            f"parity {self.backend} {self.file}: {self.images} images, batches {' '.join(self.batches)}: "
            f"max |diff| {diffs}{rows} (tolerance: {self.tolerance.describe()}): {verdict}"
        )

    def to_dict(self) -> dict:
        """JSON-ready form."""
        data = {k: v for k, v in vars(self).items() if k != "tolerance"}
        tolerance = vars(self.tolerance) if self.tolerance.gating else {"gating": False}  # JSON has no infinity
        return data | {"tolerance": tolerance, "passed": self.passed}


def _batches(meta: ExportMetadata, count: int) -> list[tuple[list[int], PreprocessContract]]:
    """Image indices and input contract of every batch the check runs (see the module docstring)."""
    contract = meta.contract
    if not meta.dynamic:
        size = meta.batch
        per = [[(start + i) % count for i in range(size)] for start in range(0, count, size)]
        return [(indices, contract) for indices in per]
    h, w = contract.input_size
    other = PreprocessContract((h, max(32, w // 64 * 32)), contract.pad_value, contract.legacy)
    runs = [([0], contract)]
    runs += [(list(range(start, min(start + 3, count))), contract) for start in range(0, count, 3)]
    runs.append(([i % count for i in (1, 2)], other))
    return runs


def check_parity(
    detector: Detector,
    backend: Backend,
    images: list[np.ndarray],
    tolerance: Tolerance | None = None,
) -> ParityReport:
    """Run ``backend`` and the PyTorch model it was exported from on ``images``; compare."""
    meta = backend.metadata
    tolerance = tolerance or TOLERANCES[meta.precision]
    reference = ExportModule(detector.model, decode=meta.outputs != "raw").eval()
    runs = _batches(meta, len(images))
    report = ParityReport(
        backend=backend.kind,
        file=backend.path.name,
        images=len(images),
        batches=[_describe(indices, c, meta.contract) for indices, c in runs],
        tolerance=tolerance,
        detections=0 if meta.nms or (meta.rotated and meta.outputs == "decoded") else None,
    )
    for indices, contract in runs:
        batch, _ = preprocess_batch([images[i] for i in indices], contract)
        with torch.no_grad():
            expected = reference(batch)
        outputs = backend.run(batch.numpy())
        where = _describe(indices, contract, meta.contract)
        if meta.nms is not None:
            _compare_nms(report, outputs, expected, meta, where)
            continue
        _compare_outputs(report, outputs[0], expected.numpy(), meta, where)
        if meta.rotated and meta.outputs == "decoded":
            found = compare_rotated_detections(torch.from_numpy(outputs[0]), expected, meta.postprocess, tolerance, where)
            report.detections += found.detections
            report.unmatched = (report.unmatched or 0) + found.unmatched
            report.explained = (report.explained or 0) + found.explained
            report.failures += found.failures
    if not report.passed:
        report.float64_floor = _float64_floor(reference, images, runs[:1], meta.rotated)
    return report


def _describe(indices: list[int], contract: PreprocessContract, base: PreprocessContract) -> str:
    size = "" if contract == base else f"@{contract.input_size[0]}x{contract.input_size[1]}"
    return f"{len(indices)}{size}"


def _record(
    report: ParityReport, part: str, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, where: str,
    period: float | None = None,
) -> None:  # fmt: skip
    """Fold one comparison into the report: running max |diff| and a failure line if out of tolerance.

    ``period``: values are angles equal modulo ``period`` (the difference is the shorter way round).
    """
    got64, expected64 = got.astype(np.float64), expected.astype(np.float64)
    same = (got64 == expected64) | (np.isnan(got64) & np.isnan(expected64))  # equal infinities, NaN on both sides
    with np.errstate(invalid="ignore"):
        apart = np.abs(got64 - expected64) if period is None else angle_difference(got64, expected64, period)
        diff = np.where(same, 0.0, apart)
    report.max_abs[part] = max(report.max_abs.get(part, 0.0), float(diff.max(initial=0.0)))
    # Non-finite differences (inf - inf, NaN) count as infinitely far.
    excess = np.where(np.isfinite(diff), diff - (atol + rtol * np.abs(expected)), np.inf)
    if excess.size and (excess > 0).any():
        worst = np.unravel_index(np.argmax(excess), diff.shape)
        report.failures.append(
            f"batch {where}: {part} differ by {diff[worst]:.3g} at {tuple(int(i) for i in worst)} "
            f"(exported {got[worst]:.6g}, PyTorch {expected[worst]:.6g})"
        )


def _compare_outputs(report: ParityReport, got: np.ndarray, expected: np.ndarray, meta: ExportMetadata, where: str) -> None:
    """Decoded or raw outputs: boxes (or raw regression), rotated models' angles, probabilities."""
    if got.shape != expected.shape:
        report.failures.append(f"batch {where}: output shape {got.shape}, PyTorch {expected.shape}")
        return
    tol = report.tolerance
    if meta.outputs == "raw":
        # Raw rotated outputs carry the unwrapped angle (radians) beside (dx, dy, dw, dh).
        first = 5 if meta.rotated else 4
        _record(report, "regression", got[..., :first], expected[..., :first], tol.box_rtol, tol.box_atol, where)
    else:
        first = 4
        _record(report, "boxes", got[..., :4], expected[..., :4], tol.box_rtol, tol.box_atol, where)
        if meta.rotated:
            first = 5
            _record(report, "angles", got[..., 4], expected[..., 4], tol.box_rtol, tol.box_atol, where, period=math.pi)
    _record(report, "probabilities", got[..., first:], expected[..., first:], 0.0, tol.prob_atol, where)


def _compare_nms(
    report: ParityReport, outputs: list[np.ndarray], decoded: torch.Tensor, meta: ExportMetadata, where: str
) -> None:
    settings = meta.nms
    detections, counts = outputs
    expected = postprocess(decoded, settings.conf, settings.iou, settings.class_agnostic)
    for image, (rows, count, want) in enumerate(zip(detections, counts, expected)):
        want = want[: settings.max_det].numpy()
        _compare_rows(report, rows[: int(count)], want, f"batch {where}, image {image}", where)
        if rows[int(count) :].any():
            report.failures.append(f"batch {where}, image {image}: padding rows are not zero")


def _compare_rows(report: ParityReport, got: np.ndarray, want: np.ndarray, label: str, where: str) -> None:
    """NMS graph rows ``(x1, y1, x2, y2, obj, class_prob, class)`` of one image vs postprocess's, in order.

    With the tolerance's ``nms_count_slack`` only the counts are compared.
    """
    tol = report.tolerance
    report.detections += len(want)
    if tol.nms_count_slack:
        if abs(len(got) - len(want)) > 1 + tol.nms_count_slack * len(want):
            report.failures.append(f"{label}: {len(got)} detections, PyTorch {len(want)}")
        return
    if len(got) != len(want):
        report.failures.append(f"{label}: {len(got)} detections, PyTorch {len(want)}")
        return
    if not np.array_equal(got[:, 6], want[:, 6]):
        report.failures.append(f"{label}: class indices differ")
    _record(report, "boxes", got[:, :4], want[:, :4], tol.box_rtol, tol.box_atol, where)
    _record(report, "probabilities", got[:, 4:6], want[:, 4:6], 0.0, tol.prob_atol, where)


def _float64_floor(reference: ExportModule, images: list[np.ndarray], runs, rotated: bool) -> dict[str, float]:
    """Max |PyTorch float32 - PyTorch float64| over ``runs`` (the first batch: float64 is slow), per part
    (rotated models: angles modulo pi, probabilities after them)."""
    network = reference.network
    exact = copy.deepcopy(network).double()
    first_prob = 5 if rotated else 4
    floor = {"boxes": 0.0, "angles": 0.0, "probabilities": 0.0} if rotated else {"boxes": 0.0, "probabilities": 0.0}
    for indices, contract in runs:
        batch, _ = preprocess_batch([images[i] for i in indices], contract)
        with torch.no_grad():
            single, double = network(batch).double(), exact(batch.double())
        diff = (single - double).abs()
        floor["boxes"] = max(floor["boxes"], float(diff[..., :4].max()))
        floor["probabilities"] = max(floor["probabilities"], float(diff[..., first_prob:].max()))
        if rotated:
            floor["angles"] = max(floor["angles"], float(angle_difference(single[..., 4].numpy(), double[..., 4].numpy()).max()))
    return floor
