"""Export a Detector to ONNX or OpenVINO IR, then check every written model against PyTorch.

Precisions (``ExportOptions.precision``): ``fp32`` (default); ``fp16`` (ONNX: FP16 inside the
graph; OpenVINO: FP16 weights); ``bf16`` (OpenVINO only: FP32 IR run in bfloat16); ``int8``
(post-training quantisation of the FP32 ONNX file on calibration images; the OpenVINO IR is
converted from the INT8 file). bf16 and int8 exports with the check on need a labelled dataset
(``data``): their accuracy contract is the mAP drop, not bit parity.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..detector import Detector
from ..errors import YoloxkitError
from ..files import without_nan, write_json
from .accuracy import MapComparison, compare_map
from .backends import open_backend
from .metadata import ExportMetadata
from .onnx_export import ExportOptions, export_onnx
from .openvino_export import export_openvino
from .quantize import CALIBRATION_COUNT, quantize_onnx
from .images import DEFAULT_COUNT, default_images
from .parity import ParityReport, Tolerance, check_parity
from .runtime import ExportedDetector

FORMATS = ("onnx", "openvino")


@dataclass
class ExportResult:
    """The files written, their metadata and the parity reports (empty when the check was skipped)."""

    files: list[Path]
    metadata: ExportMetadata
    parity: list[ParityReport] = field(default_factory=list)
    map: list[MapComparison] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self) -> list[str]:
        """One line per failed check (empty when everything passed or nothing was checked)."""
        lines = [f"{r.file}: {r.failures[0]}" for r in self.parity if not r.passed]
        return lines + [m.summary() for m in self.map if not m.passed]

    def to_dict(self) -> dict:
        """JSON-ready form (``export.json``)."""
        return {
            "files": [str(p) for p in self.files],
            "metadata": self.metadata.to_strings(),
            "parity": [r.to_dict() for r in self.parity],
            "parity_checked": bool(self.parity),
            "map": [m.to_dict() for m in self.map],
            "seconds": round(self.seconds, 2),
        }


def export_model(
    detector: Detector,
    out_dir: str | Path,
    fmt: str = "onnx",
    options: ExportOptions = ExportOptions(),
    name: str | None = None,
    check: bool = True,
    images: list[np.ndarray] | None = None,
    tolerance: Tolerance | None = None,
    data: str | Path | None = None,
    split: str = "val",
    calibration: list[np.ndarray] | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export ``detector`` into ``out_dir`` as ``{name}.onnx`` (and ``{name}.xml/.bin`` for OpenVINO).

    With ``check`` (the default) every model file written is run on ``images`` (default:
    :func:`~yoloxkit.export.images.default_images`: images of ``split`` of ``data``, else the
    bundled demo image) and compared with PyTorch; if any
    comparison is out of tolerance the model files are removed, ``export.json`` keeps the
    report, and a YoloxkitError says what differed. ``export.json`` is written in every case.
    With ``data`` (and ``check``), decoded exports are also evaluated on ``split`` of that
    labelled dataset beside PyTorch, and fail when their COCO AP differs by more than
    the tolerance of the precision (:data:`~yoloxkit.export.accuracy.MAP_TOLERANCES`).
    ``calibration``: BGR images for int8 (default: :data:`~yoloxkit.export.quantize.CALIBRATION_COUNT`
    images of ``split`` of ``data``, which int8 requires, by :func:`~yoloxkit.export.images.default_images`).
    """
    precision = _check_precision(fmt, options, check, data)
    out_dir = Path(out_dir)
    name = name or detector.model_name
    started = time.perf_counter()
    onnx_path = out_dir / f"{name}.onnx"
    if precision == "int8":
        calibration = calibration if calibration is not None else default_images(data, split, CALIBRATION_COUNT)
        with tempfile.TemporaryDirectory(prefix="yoloxkit-export-") as tmp:
            fp32 = export_onnx(detector, Path(tmp) / onnx_path.name, replace(options, precision="fp32"))
            log(f"quantising to INT8 on {len(calibration)} calibration images")
            metadata = quantize_onnx(Path(tmp) / onnx_path.name, onnx_path, calibration, fp32.contract, fp32)
    else:
        # OpenVINO's FP16 and BF16 IRs are made from an FP32 ONNX file.
        metadata = export_onnx(detector, onnx_path, replace(options, precision=precision if fmt == "onnx" else "fp32"))
    files, models = [onnx_path], [onnx_path]
    log(f"wrote {onnx_path} ({_megabytes(onnx_path)})")
    if fmt == "openvino":
        xml_path = out_dir / f"{name}.xml"
        metadata = export_openvino(onnx_path, xml_path, precision)
        files += [xml_path, xml_path.with_suffix(".bin")]
        models.append(xml_path)
        log(f"wrote {xml_path} (+ .bin, {_megabytes(xml_path.with_suffix('.bin'))})")
    result = ExportResult(files, metadata)
    if check:
        images = images if images is not None else default_images(data, split, DEFAULT_COUNT)
        for path in models:
            report = check_parity(detector, open_backend(path), images, tolerance)
            result.parity.append(report)
            log(report.summary())
        if data is not None and metadata.outputs != "decoded":
            log(f"mAP not checked: a model with {metadata.outputs} outputs is not evaluated (export with --decode, without --nms)")
        elif data is not None:
            for path in models:
                comparison = compare_map(detector, ExportedDetector(open_backend(path)), data, split)
                result.map.append(comparison)
                log(comparison.summary())
    else:
        log("parity check skipped (--no-check): the exported model was NOT compared with PyTorch")
    result.seconds = time.perf_counter() - started
    write_json(out_dir / "export.json", without_nan(result.to_dict()))
    failures = result.failures()
    if failures:
        for path in files:
            path.unlink(missing_ok=True)
        raise YoloxkitError(
            f"parity check failed: {failures[0]}; model files removed, report in {out_dir / 'export.json'} "
            "(--no-check keeps an unchecked export)"
        )
    return result


def tensorrt_refusal() -> str:
    """The one-line answer to ``--format tensorrt``: engines are not built by yoloxkit (TensorRT's
    libraries come only from pypi.nvidia.com, out of reach of this project's machines, GPU ones
    included, so no engine could be built or checked); it says what is missing here and the way
    that remains (the ONNX export, built into an engine on the target GPU)."""
    import importlib.util

    import torch

    missing = [why for why, absent in (("no CUDA device", not torch.cuda.is_available()),
                                       ("no tensorrt package", importlib.util.find_spec("tensorrt") is None)) if absent]  # fmt: skip
    here = f" (here: {', '.join(missing)})" if missing else ""
    return (f"--format tensorrt: yoloxkit does not build TensorRT engines{here}; export --format onnx (fp32, fp16 or int8) "
            "and build the engine on the target GPU with TensorRT's trtexec --onnx=NAME.onnx")  # fmt: skip


def check_format(fmt: str) -> None:
    """Refuse a format yoloxkit does not write, in one line (TensorRT: :func:`tensorrt_refusal`)."""
    if fmt == "tensorrt":
        raise YoloxkitError(tensorrt_refusal())
    if fmt not in FORMATS:
        raise YoloxkitError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _check_precision(fmt: str, options: ExportOptions, check: bool, data: str | Path | None) -> str:
    """The export's precision, once the format and the checks asked for allow it."""
    check_format(fmt)
    precision = options.precision
    if precision == "bf16" and fmt != "openvino":
        raise YoloxkitError("bf16 is an OpenVINO precision (ONNX Runtime's CPU provider has no bf16 convolutions): use --format openvino")
    if precision in ("bf16", "int8") and check and data is None:
        raise YoloxkitError(
            f"{'an' if precision == 'int8' else 'a'} {precision} export is checked by its mAP drop on a labelled dataset: give --check-data DIR "
            "(images of your task), or --no-check to skip every check"
        )
    if precision in ("bf16", "int8") and (options.nms is not None or not options.decode):
        raise YoloxkitError(f"{precision} exports have decoded outputs (no --raw, no --nms): their accuracy is checked by mAP")
    return precision


def _megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f} MB"
