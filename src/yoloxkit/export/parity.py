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
explained, a few others may lack a counterpart, see :data:`ROTATED_UNMATCHED_SHARE`). When a check fails, the report also gives how far PyTorch float32 itself is from a
float64 evaluation on the first batch: a large figure there means the model amplifies rounding,
not that the export is wrong.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.preprocess import PreprocessContract, preprocess_batch
from ..data.sources import Source
from ..detector import Detector
from ..errors import YoloxkitError
from ..ops import postprocess, rotated_iou, rotated_postprocess
from ..structures.boxes import angle_difference
from .backends import Backend
from .graph import ExportModule
from .metadata import ExportMetadata, HostPostprocess

#: COCO128, relative to the repository root (the development checkout); the bundled demo
#: image is used when it is absent (installed package).
DEFAULT_IMAGES = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017"
DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "demo.jpg"
DEFAULT_COUNT = 8


@dataclass(frozen=True)
class Tolerance:
    """Largest differences accepted: ``prob_atol`` absolute; boxes ``box_atol + box_rtol * |ref|``.

    ``nms_count_slack``: NMS graphs may differ from PyTorch by this share of rows per image
    (plus one); 0 means identical rows, compared one by one. With slack, only counts are
    compared: reduced precision moves scores across the thresholds.

    ``gating=False``: the differences are measured and reported but fail nothing (bf16 and int8,
    whose accuracy contract is the mAP check, not element-wise parity).
    """

    prob_atol: float
    box_atol: float
    box_rtol: float
    nms_count_slack: float = 0.0
    gating: bool = True

    def describe(self) -> str:
        """One-line form for reports."""
        if not self.gating:
            return "reported only: accuracy is gated by the mAP check"
        text = f"probabilities {self.prob_atol:g}, boxes {self.box_atol:g} + {self.box_rtol:g} x |value|"
        return text + (f", NMS rows per image +-(1 + {self.nms_count_slack:.0%})" if self.nms_count_slack else "")


#: Measured and reported, failing nothing (precisions gated by the mAP check).
UNGATED = Tolerance(float("inf"), float("inf"), 0.0, gating=False)

#: Default tolerances by exported precision. FP16 is a sanity check: half-precision activations
#: change probabilities by up to a few 1e-2 on models that amplify rounding. bf16 (8-bit
#: mantissa) and int8 move single outputs much further on such models (up to 0.7 in probability
#: on the tests' calibrated random networks) while detections may still agree: their element-wise
#: differences are reported, and their accuracy is gated by the mAP drop on a labelled dataset
#: (:data:`~yoloxkit.export.accuracy.MAP_TOLERANCES`), which their export requires.
TOLERANCES = {
    "fp32": Tolerance(1e-4, 1e-4, 1e-4),
    "fp16": Tolerance(5e-2, 5e-2, 5e-2, nms_count_slack=0.1),
    "bf16": UNGATED,
    "int8": UNGATED,
}

#: Rotated exports, fp32: share of an image's detections (plus one), counted per side, that may
#: lack a counterpart after the host rotated NMS without an explanation. Greedy NMS over the
#: thousands of candidates that score 0.01 is discontinuous: a 1e-7 difference at the score or IoU
#: threshold, or between two near-equal scores of overlapping boxes, keeps one box instead of
#: another. Clear cases are explained (not counted): a swap (an unmatched pair of one class, one
#: per side, overlapping at IoU >= the NMS threshold, scores within 2 x the probability
#: tolerance) and a row whose score lies within that of the score threshold
#: (``benchmarks/rotated_export_nms.py`` measures what remains on a random model at 1024).
ROTATED_UNMATCHED_SHARE = 0.01

#: Detection pairs compared at once when matching rotated detections: bounds the matcher's memory
#: whatever the number of detections (measured: 2,400 detections of one class peak at 51 MB,
#: where comparing all pairs at once took 645 MB, in the same time).
MATCH_BLOCK_PAIRS = 1 << 18


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


def load_parity_images(source: str | Path | None = None, count: int = DEFAULT_COUNT) -> list[np.ndarray]:
    """Up to ``count`` BGR images from ``source`` (image, folder, glob or video); default COCO128.

    Without a source and without the COCO128 folder, the bundled demo image is used.
    """
    if count < 1:
        raise YoloxkitError(f"the parity check needs at least one image, got count {count}")
    if source is None:
        source = DEFAULT_IMAGES if DEFAULT_IMAGES.is_dir() else DEMO_IMAGE
    images = [frame.image for frame in itertools.islice(Source(str(source)), count)]
    if not images:
        raise YoloxkitError(f"no images for the parity check in {source}")
    return images


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
            _compare_rotated_detections(report, torch.from_numpy(outputs[0]), expected, meta.postprocess, where)
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


def _compare_rotated_detections(
    report: ParityReport, got: torch.Tensor, expected: torch.Tensor, settings: HostPostprocess, where: str
) -> None:
    """The final detections of a rotated export (host rotated NMS at ``settings``' thresholds) vs PyTorch's.

    Matched as sets, not row by row: a row matches a row of the other side with the same class
    and every value within the tolerance (angles modulo pi). The decoded outputs were compared
    element-wise before, so a row left without a counterpart is an NMS or threshold decision,
    not a moved box; the clear ones are explained (see :data:`ROTATED_UNMATCHED_SHARE`). The rest,
    counted per side, go into ``report.unmatched``; fp32 fails an image with more than ``1 +``
    :data:`ROTATED_UNMATCHED_SHARE` ``x`` PyTorch's rows of them. With the tolerance's
    ``nms_count_slack`` (fp16) only the counts are held to it, as for NMS graphs; ungated
    tolerances (bf16, int8) only count.
    """
    tol = report.tolerance
    conf, iou = settings.conf, settings.iou
    pairs = zip(rotated_postprocess(got, conf, iou), rotated_postprocess(expected, conf, iou))
    for image, (rows, want) in enumerate(pairs):
        rows, want = rows.numpy().astype(np.float64), want.numpy().astype(np.float64)
        report.detections += len(want)
        lone_rows, lone_want = _unmatched(rows, want, tol)
        left_rows, left_want = _unexplained(rows[lone_rows], want[lone_want], settings, tol)
        unmatched = max(left_rows, left_want)
        report.unmatched = (report.unmatched or 0) + unmatched
        report.explained = (report.explained or 0) + max(len(lone_rows), len(lone_want)) - unmatched
        label = f"batch {where}, image {image}"
        if not tol.gating:
            continue
        if tol.nms_count_slack:
            if abs(len(rows) - len(want)) > 1 + tol.nms_count_slack * len(want):
                report.failures.append(f"{label}: {len(rows)} detections, PyTorch {len(want)}")
        elif unmatched > 1 + ROTATED_UNMATCHED_SHARE * len(want):
            report.failures.append(
                f"{label}: {left_rows} of {len(rows)} exported and {left_want} of {len(want)} PyTorch detections "
                "have no counterpart within the tolerance (nor an NMS swap or the score threshold to explain it)"
            )


def _unmatched(rows: np.ndarray, want: np.ndarray, tol: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the rotated rows ``[R, 8]`` and of ``want [W, 8]`` left without a counterpart.

    Greedy one-to-one pairing: each ``want`` row in order takes the first free row with the same
    class and every value within the tolerance (angles modulo pi); matched rows are
    near-identical, so the first one will do. ``want`` is taken in blocks of columns, so that at
    most :data:`MATCH_BLOCK_PAIRS` pairs are compared at once.
    """
    limits = np.concatenate(
        [tol.box_atol + tol.box_rtol * np.abs(want[:, :5]), np.full((len(want), 2), tol.prob_atol), np.zeros((len(want), 1))], 1
    )  # the class (last column) must be equal
    taken, done = np.zeros(len(rows), dtype=bool), np.zeros(len(want), dtype=bool)
    block = max(1, MATCH_BLOCK_PAIRS // max(1, len(rows)))
    for start in range(0, len(want), block):
        gaps = np.abs(rows[:, None, :] - want[None, start : start + block])
        gaps[..., 4] = angle_difference(rows[:, None, 4], want[None, start : start + block, 4])
        close = (gaps <= limits[None, start : start + block]).all(-1)
        for k in range(close.shape[1]):
            free = np.flatnonzero(close[:, k] & ~taken)
            if free.size:
                taken[free[0]] = done[start + k] = True
    return np.flatnonzero(~taken), np.flatnonzero(~done)


def _unexplained(rows: np.ndarray, want: np.ndarray, settings: HostPostprocess, tol: Tolerance) -> tuple[int, int]:
    """How many unmatched exported ``rows`` and PyTorch ``want`` rows an NMS decision does not explain.

    Explained: a row whose score lies within ``2 x prob_atol`` of the score threshold (kept on
    one side only), and a swap: a row and a want row of the same class, overlapping at rotated
    IoU >= the NMS threshold, scores within ``2 x prob_atol`` (two near-tied boxes, each side
    keeping the other one), paired one-to-one.
    """
    slack = 2 * tol.prob_atol  # a score is the product of two probabilities, each within prob_atol
    rows = rows[np.abs(rows[:, 5] * rows[:, 6] - settings.conf) > slack]
    want = want[np.abs(want[:, 5] * want[:, 6] - settings.conf) > slack]
    if not (len(rows) and len(want)):
        return len(rows), len(want)
    overlap = rotated_iou(torch.from_numpy(rows[:, :5]), torch.from_numpy(want[:, :5])).numpy()
    swap = (
        (overlap >= settings.iou)
        & (rows[:, None, 7] == want[None, :, 7])
        & (np.abs(rows[:, None, 5] * rows[:, None, 6] - want[None, :, 5] * want[None, :, 6]) <= slack)
    )
    used = np.zeros(len(want), dtype=bool)
    swaps = 0
    for candidates in swap:
        free = np.flatnonzero(candidates & ~used)
        if free.size:
            used[free[0]] = True
            swaps += 1
    return len(rows) - swaps, len(want) - swaps


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
