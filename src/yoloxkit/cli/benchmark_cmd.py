"""``yoloxkit benchmark``: latency and throughput of PyTorch, ONNX Runtime and OpenVINO on one model.

Each (format, batch) case times ``Detector._detect`` — the network and the postprocessing
(score threshold and NMS), the part that differs between backends — on a batch of real images
preprocessed once by the shared preprocessing. ``--warmup`` calls are run first and not
counted; then ``--iters`` calls are timed one by one. Every backend uses ``--threads`` threads
(default: PyTorch's thread count). The ONNX and OpenVINO models are exported from the same
weights (decoded outputs, dynamic batch and size) into ``--out`` (a temporary folder by default).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer

from ..data.preprocess import preprocess_batch
from ..detector import Detector
from ..errors import YoloxkitError
from ..export import ExportedDetector, ExportOptions, export_model, load_parity_images
from .common import load_detector, write_json

FORMATS = ("torch", "onnx", "openvino")


def benchmark(
    weights: str = typer.Option(None, "--weights", "-w", help="Checkpoint file, model name, or an exported .onnx/.xml."),
    model: str = typer.Option(None, "--model", "-m", help="Model name (recognised from the weights when omitted)."),
    formats: str = typer.Option("torch,onnx,openvino", "--formats", help="Comma-separated: torch, onnx, openvino."),
    batches: str = typer.Option("1,8", "--batch", help="Comma-separated batch sizes."),
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed calls before timing each case."),
    iters: int = typer.Option(20, "--iters", help="Timed calls per case."),
    threads: int = typer.Option(None, "--threads", help="Threads for every backend (default: PyTorch's, i.e. the cores)."),
    images: str = typer.Option(None, "--images", help="Images to run on (file, folder, glob, video); default COCO128."),
    conf: float = typer.Option(0.25, "--conf", help="Score threshold of the postprocessing."),
    iou: float = typer.Option(0.45, "--iou", help="NMS IoU threshold."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the exported models (default: a temporary one)."),
    json_path: Path = typer.Option(None, "--json", help="Also write the results as JSON to this file."),
) -> None:
    """Latency (p50/p95) and throughput per backend and batch size, as a table and optionally JSON."""
    chosen = _parse_list(formats, "--formats", str)
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise YoloxkitError(f"unknown format {unknown[0]!r} in --formats; choose from {', '.join(FORMATS)}")
    sizes = _parse_list(batches, "--batch", int)
    if min(sizes) < 1 or warmup < 0 or iters < 1 or (threads is not None and threads < 1):
        raise YoloxkitError("--batch sizes, --iters and --threads must be >= 1 and --warmup >= 0")
    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    source = load_detector(weights, model, size, "cpu")
    with tempfile.TemporaryDirectory(prefix="yoloxkit-bench-") as tmp:
        detectors = _detectors(source, chosen, out or Path(tmp), threads)
        rows = _run(detectors, sizes, images, warmup, iters, conf, iou, threads)
    _report(rows, json_path)


def _parse_list(text: str, option: str, kind: type) -> list:
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise YoloxkitError(f"{option}: expected a comma-separated list, got {text!r}") from None
    if not values:
        raise YoloxkitError(f"{option}: empty list")
    return values


def _detectors(detector: Detector, formats: list[str], folder: Path, threads: int) -> dict[str, Detector]:
    """The PyTorch detector and its exports (dynamic, decoded), each opened with ``threads``.

    An exported model given as ``--weights`` is benchmarked alone, on its own backend.
    """
    if isinstance(detector, ExportedDetector):
        fmt = "onnx" if detector.backend.kind == "onnxruntime" else "openvino"
        if formats != [fmt]:
            typer.echo(f"note: {detector.backend.path.name} is an exported model: benchmarking {fmt} only")
        return {fmt: ExportedDetector.from_file(detector.backend.path, threads, detector.contract.input_size)}
    result: dict[str, Detector] = {}
    options = ExportOptions(dynamic=True)
    for fmt in formats:
        if fmt == "torch":
            result[fmt] = detector
            continue
        export_model(detector, folder / fmt, fmt, options, check=False, log=lambda _: None)
        suffix = ".onnx" if fmt == "onnx" else ".xml"
        result[fmt] = ExportedDetector.from_file(folder / fmt / f"{detector.model_name}{suffix}", threads=threads)
    return result


def _run(
    detectors: dict[str, Detector], sizes: list[int], source: str | None, warmup: int, iters: int,
    conf: float, iou: float, threads: int,
) -> list[dict]:  # fmt: skip
    pool = load_parity_images(source, max(sizes))
    rows = []
    for batch_size in sizes:
        chosen = [pool[i % len(pool)] for i in range(batch_size)]
        for fmt, detector in detectors.items():
            batch, _ = preprocess_batch(chosen, detector.contract)
            times = _time(lambda d=detector, b=batch: d._detect(b, conf, iou, False), warmup, iters)
            h, w = detector.contract.input_size
            rows.append(
                {
                    "format": fmt,
                    "model": detector.model_name,
                    "input": f"{h}x{w}",
                    "batch": batch_size,
                    "threads": threads,
                    "p50_ms": round(float(np.percentile(times, 50)), 2),
                    "p95_ms": round(float(np.percentile(times, 95)), 2),
                    "mean_ms": round(statistics.fmean(times), 2),
                    "images_per_s": round(batch_size * 1000 / statistics.fmean(times), 2),
                    "iters": iters,
                    "warmup": warmup,
                }
            )
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
    header = f"{'format':<9} {'model':<11} {'input':>8} {'batch':>5} {'threads':>7} {'p50 ms':>9} {'p95 ms':>9} {'img/s':>8}"
    typer.echo(header)
    for r in rows:
        typer.echo(
            f"{r['format']:<9} {r['model']:<11} {r['input']:>8} {r['batch']:>5} {r['threads']:>7} "
            f"{r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} {r['images_per_s']:>8.1f}"
        )
    typer.echo("latency of the network + postprocessing on preprocessed real images; warm-up calls excluded")
    if json_path is not None:
        write_json(json_path, rows)
        typer.echo(f"results in {json_path}")
