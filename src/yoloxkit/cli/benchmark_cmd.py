"""``yoloxkit benchmark``: latency, throughput and peak memory of PyTorch, ONNX Runtime and OpenVINO.

Each (format, precision) backend is opened in turn; for each batch size it times
``Detector.detect`` — the network and the postprocessing (score threshold and NMS), the part
that differs between backends — on a batch of real images preprocessed once by the shared
preprocessing. ``--warmup`` calls are run first and not counted; then ``--iters`` calls are
timed one by one. Every backend uses ``--threads`` threads (default: PyTorch's thread count).
The ONNX and OpenVINO models are exported from the same weights (decoded outputs, dynamic
batch and size; int8 calibrated on COCO128) into ``--out`` (a temporary folder by default),
all before the first measurement, and are not accuracy-checked here (``yoloxkit export`` does that).

Each backend is measured in a fresh process (:mod:`yoloxkit.export.memory`), which opens its
file (PyTorch: a checkpoint of the same weights), so that the memory figures are its own:
``load MiB`` is the peak RSS growth while opening (weights, compiled kernels; PyTorch's
inference copy is built then too), ``peak MiB`` the peak growth up to the end of that batch
size (batch sizes run in ascending order; warm-up included): weights plus activations and
workspaces. The runtime's libraries are imported before the baseline, as PyTorch's are.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import typer

from ..data.preprocess import preprocess_batch
from ..detector import Detector
from ..errors import YoloxkitError
from ..data.sources import load_images
from ..export import PRECISIONS, ExportedDetector, ExportOptions, export_model
from ..checkpoints import save_checkpoint
from ..export.memory import PeakTracker, run_in_fresh_process
from ..export.quantize import CALIBRATION_COUNT
from ..files import write_json
from ..outputs import check_output_file, prepare_output_dir
from .common import load_detector
from .options import EXIST_OK, MODEL, WEIGHTS
from .values import comma_list

FORMATS = ("torch", "onnx", "openvino")
#: Precisions each format runs (bf16 is OpenVINO's; PyTorch is benchmarked in fp32).
SUPPORTED = {"torch": ("fp32",), "onnx": ("fp32", "fp16", "int8"), "openvino": PRECISIONS}


def benchmark(
    weights: str = WEIGHTS,
    model: str = MODEL,
    formats: str = typer.Option("torch,onnx,openvino", "--formats", help="Comma-separated: torch, onnx, openvino."),
    precisions: str = typer.Option("fp32", "--precision", help="Comma-separated: fp32, fp16, bf16 (openvino), int8; each format runs those it supports."),
    batches: str = typer.Option("1,8", "--batch", help="Comma-separated batch sizes."),
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed calls before timing each case."),
    iters: int = typer.Option(20, "--iters", help="Timed calls per case."),
    threads: int = typer.Option(None, "--threads", help="Threads for every backend (default: PyTorch's, i.e. the cores)."),
    images: str = typer.Option(None, "--images", help="Images to run on (file, folder, glob, video), also int8's calibration images; default: the bundled demo image."),
    conf: float = typer.Option(0.25, "--conf", help="Score threshold of the postprocessing."),
    iou: float = typer.Option(None, "--iou", help="NMS IoU threshold (default 0.45; rotated models 0.1, the reference's)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the exported models: new or empty (default: a temporary one)."),
    exist_ok: bool = EXIST_OK,
    json_path: Path = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
) -> None:
    """Latency (p50/p95), throughput and peak memory per backend and batch size, as a table and optionally JSON."""
    chosen = comma_list(formats, "--formats", str)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise YoloxkitError(f"unknown format {unknown[0]!r} in --formats; choose from {', '.join(FORMATS)}")
    wanted = comma_list(precisions, "--precision", str)
    unknown = [p for p in wanted if p not in PRECISIONS]
    if unknown:
        raise YoloxkitError(f"unknown precision {unknown[0]!r} in --precision; choose from {', '.join(PRECISIONS)}")
    sizes = comma_list(batches, "--batch", int)
    if min(sizes) < 1 or warmup < 0 or iters < 1 or (threads is not None and threads < 1):
        raise YoloxkitError("--batch sizes, --iters and --threads must be >= 1 and --warmup >= 0")
    check_output_file(json_path, [weights, images])
    if out is not None:
        prepare_output_dir(out, [weights, images], exist_ok)
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    source = load_detector(weights, model, size, "cpu")
    with tempfile.TemporaryDirectory(prefix="yoloxkit-bench-") as tmp:
        cases = _cases(source, chosen, wanted, out or Path(tmp), images)
        iou = source.default_iou if iou is None else iou
        rows = _run(cases, sizes, images, warmup, iters, conf, iou, threads, source.contract.input_size)
    _report(rows, json_path)


@dataclass(frozen=True)
class Case:
    """One backend to measure: format, precision and the file it is opened from."""

    fmt: str
    precision: str
    path: Path

    @property
    def preload(self) -> tuple[str, ...]:
        """Modules imported before measuring (their libraries belong to the baseline, as PyTorch's do)."""
        return {"torch": (), "onnx": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino")}[self.fmt]


def _cases(detector: Detector, formats: list[str], precisions: list[str], folder: Path, images: str | None) -> list[Case]:
    """The backends to measure, with their files written first (the PyTorch one as a checkpoint).

    An exported model given as ``--weights`` is benchmarked alone, on its own backend. int8 models
    are calibrated on ``images`` (the images the benchmark runs on).
    """
    if isinstance(detector, ExportedDetector):
        fmt = "onnx" if detector.backend.kind == "onnxruntime" else "openvino"
        if formats != [fmt]:
            typer.echo(f"note: {detector.backend.path.name} is an exported model: benchmarking {fmt} only")
        return [Case(fmt, detector.backend.precision, detector.backend.path)]
    chosen = [(fmt, p) for fmt in formats for p in precisions if p in SUPPORTED[fmt]]
    if not chosen:
        raise YoloxkitError(f"no format of --formats runs --precision {','.join(precisions)} (bf16 is openvino's)")
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for fmt, precision in chosen:
        if fmt == "torch":
            path = folder / f"{detector.model_name}.pth"
            save_checkpoint(path, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict())
        else:
            target = folder / f"{fmt}-{precision}"
            calibration = load_images(images, CALIBRATION_COUNT) if precision == "int8" else None
            options = ExportOptions(dynamic=True, precision=precision)
            export_model(detector, target, fmt, options, check=False, calibration=calibration, log=lambda _: None)
            path = target / f"{detector.model_name}{'.onnx' if fmt == 'onnx' else '.xml'}"
        cases.append(Case(fmt, precision, path))
    return cases


def _open(case: Case, threads: int, input_size: tuple[int, int]) -> Detector:
    """The detector of ``case``, ready to run (PyTorch's inference copy built, as runtimes compile on opening)."""
    if case.fmt != "torch":
        return ExportedDetector.from_file(case.path, threads, input_size)
    detector = Detector.from_checkpoint(case.path, input_size=input_size, device="cpu")
    detector._inference_model()
    return detector


def measure_case(
    case: Case, sizes: list[int], source: str | None, warmup: int, iters: int, conf: float, iou: float, threads: int,
    input_size: tuple[int, int],
) -> list[dict]:  # fmt: skip
    """Open ``case`` and time every batch size; run in a fresh process by :func:`_run` (module level to be spawnable)."""
    torch.set_num_threads(threads)
    pool = load_images(source, max(sizes))
    rows = []
    with PeakTracker() as memory:
        detector = _open(case, threads, input_size)
        loaded = memory.growth_mib()
        computed = getattr(getattr(detector, "backend", None), "compute_precision", case.precision)
        for batch_size in sizes:
            batch, _ = preprocess_batch([pool[i % len(pool)] for i in range(batch_size)], detector.contract)
            times = _time(lambda d=detector, b=batch: d.detect(b, conf, iou, False), warmup, iters)
            h, w = detector.contract.input_size
            rows.append(
                {
                    "format": case.fmt,
                    "precision": case.precision,
                    "compute_precision": computed,
                    "model": detector.model_name,
                    "input": f"{h}x{w}",
                    "batch": batch_size,
                    "threads": threads,
                    "p50_ms": round(float(np.percentile(times, 50)), 2),
                    "p95_ms": round(float(np.percentile(times, 95)), 2),
                    "mean_ms": round(statistics.fmean(times), 2),
                    "images_per_s": round(batch_size * 1000 / statistics.fmean(times), 2),
                    "load_mib": round(loaded, 1),
                    "peak_mib": round(memory.growth_mib(), 1),
                    "memory_method": f"{memory.method}, fresh process per backend",
                    "iters": iters,
                    "warmup": warmup,
                }
            )
    return rows


def _run(
    cases: list[Case], sizes: list[int], source: str | None, warmup: int, iters: int, conf: float, iou: float,
    threads: int, input_size: tuple[int, int],
) -> list[dict]:  # fmt: skip
    rows = []
    for case in cases:
        arguments = (case, sorted(sizes), source, warmup, iters, conf, iou, threads, input_size)
        rows += run_in_fresh_process(measure_case, arguments, case.preload)
    return rows


@torch.inference_mode()
def _time(call, warmup: int, iters: int) -> list[float]:
    """Milliseconds of each of ``iters`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _report(rows: list[dict], json_path: Path | None) -> None:
    header = (
        f"{'format':<9} {'precision':<9} {'model':<11} {'input':>8} {'batch':>5} {'threads':>7} {'p50 ms':>9} "
        f"{'p95 ms':>9} {'img/s':>8} {'load MiB':>9} {'peak MiB':>8}"
    )
    typer.echo(header)
    for r in rows:
        precision = r["precision"] if r["compute_precision"] == r["precision"] else f"{r['precision']}>{r['compute_precision']}"
        typer.echo(
            f"{r['format']:<9} {precision:<9} {r['model']:<11} {r['input']:>8} {r['batch']:>5} {r['threads']:>7} "
            f"{r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} {r['images_per_s']:>8.1f} {r['load_mib']:>9.1f} {r['peak_mib']:>8.1f}"
        )
    typer.echo(
        "latency of the network + postprocessing on preprocessed real images; warm-up calls excluded; "
        f"memory: peak RSS growth over the backend's fresh process before it opened the model ({rows[0]['memory_method']}): "
        "after opening / peak up to this batch size"
    )
    if json_path is not None:
        write_json(json_path, rows)
        typer.echo(f"results in {json_path}")
