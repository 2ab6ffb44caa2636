"""``yoloxkit export``: ONNX or OpenVINO IR with decode (and optionally NMS) in the graph, checked."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import YoloxkitError
from ..data.sources import load_images
from ..export import TOLERANCES, ExportOptions, NMSSettings, Tolerance, export_model
from ..export.pipeline import check_format
from ..export.metadata import PRECISIONS
from ..export.images import DEFAULT_COUNT, default_images
from ..export.quantize import CALIBRATION_COUNT
from ..outputs import prepare_output_dir
from .common import load_detector
from .options import EXIST_OK, LEGACY, MODEL, PYTORCH_WEIGHTS


def export(
    weights: str = PYTORCH_WEIGHTS,
    model: str = MODEL,
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx, or openvino (IR converted from the ONNX file); tensorrt is not built (the error says why)."),
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic batch, height and width."),
    batch: int = typer.Option(1, "--batch", help="Batch size of the graph (the example batch with --dynamic)."),
    decode: bool = typer.Option(True, "--decode/--raw", help="Decoded boxes in the graph, or the raw head output."),
    nms: bool = typer.Option(False, "--nms", help="NMS in the graph: outputs detections [B, max_det, 7] and num_detections [B] (not for rotated models: their NMS runs on the host)."),
    conf: float = typer.Option(0.25, "--conf", help="With --nms: score threshold baked into the graph."),
    iou: float = typer.Option(0.45, "--iou", help="With --nms: NMS IoU threshold baked into the graph."),
    class_agnostic: bool = typer.Option(False, "--class-agnostic", help="With --nms: one NMS over all classes."),
    max_det: int = typer.Option(100, "--max-det", help="With --nms: detections kept per image."),
    max_candidates: int = typer.Option(1000, "--max-candidates", help="With --nms: highest-scoring candidates that enter NMS."),
    precision: str = typer.Option("fp32", "--precision", help="fp32; fp16; bf16 (openvino, AMX/AVX512-BF16 CPUs); int8 (post-training quantisation)."),
    half: bool = typer.Option(False, "--half", help="Same as --precision fp16: ONNX computes in FP16; OpenVINO IR stores FP16 weights."),
    calib_images: str = typer.Option(None, "--calib-images", help="With int8: calibration images (file, folder, glob or video); default: images of --data's split."),
    calib_count: int = typer.Option(CALIBRATION_COUNT, "--calib-count", help="With int8: number of calibration images."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify the ONNX graph with onnxslim."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = EXIST_OK,
    check: bool = typer.Option(True, "--check/--no-check", help="Parity check against PyTorch after export (--no-check skips it)."),
    check_images: str = typer.Option(None, "--check-images", help="Images for the parity check (file, folder, glob or video); default: images of --data's split, else the bundled demo image."),
    check_count: int = typer.Option(DEFAULT_COUNT, "--check-count", help="Number of parity-check images."),
    prob_tol: float = typer.Option(None, "--prob-tol", help="Parity tolerance on probabilities (default by precision, fp32 1e-4)."),
    box_tol: float = typer.Option(None, "--box-tol", help="Parity tolerance on boxes: atol and rtol (default by precision, fp32 1e-4)."),
    check_data: str = typer.Option(None, "--check-data", help="Labelled dataset: also compare COCO AP with PyTorch (decoded exports; required for bf16/int8)."),
    check_split: str = typer.Option("val", "--check-split", help="Split of --check-data to evaluate."),
    legacy: bool = LEGACY,
) -> None:
    """Export a detector to ONNX or OpenVINO IR and check the result against PyTorch on real images."""
    check_format(fmt)
    if not decode and nms:
        raise YoloxkitError("--nms needs the decode in the graph: drop --raw")
    if half and precision not in ("fp32", "fp16"):
        raise YoloxkitError(f"--half means --precision fp16; it contradicts --precision {precision}")
    precision = "fp16" if half else precision
    if precision not in PRECISIONS:
        raise YoloxkitError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    settings = NMSSettings(conf, iou, class_agnostic, max_det, max_candidates) if nms else None
    options = ExportOptions(
        input_size=(size, size) if size else None,
        batch=batch,
        dynamic=dynamic,
        decode=decode,
        nms=settings,
        precision=precision,
        simplify=simplify,
    )
    prepare_output_dir(out, [weights, check_images, calib_images, check_data], exist_ok)
    detector = load_detector(weights, model, size, "cpu", legacy)
    def pick(source: str | None, count: int) -> list:
        return load_images(source, count) if source else default_images(check_data, check_split, count)

    images = pick(check_images, check_count) if check else None
    calibration = pick(calib_images, calib_count) if precision == "int8" else None
    result = export_model(
        detector, out, fmt, options, check=check, images=images, tolerance=_tolerance(precision, prob_tol, box_tol),
        data=check_data, split=check_split, calibration=calibration, log=typer.echo,
    )  # fmt: skip
    meta = result.metadata
    typer.echo(
        f"exported {meta.model} ({meta.outputs}{' rbox' if meta.rotated else ''} outputs, {meta.precision}, input {meta.input_size[0]}x{meta.input_size[1]}, "
        f"{'dynamic' if meta.dynamic else f'batch {meta.batch}'}) to {out} in {result.seconds:.1f}s; report in {out / 'export.json'}"
    )


def _tolerance(precision: str, prob_tol: float | None, box_tol: float | None) -> Tolerance | None:
    """The user's overrides on the default tolerance of the precision; None without overrides."""
    if prob_tol is None and box_tol is None:
        return None  # each model file is checked at the default of its own precision
    base = TOLERANCES[precision]
    for name, value in (("--prob-tol", prob_tol), ("--box-tol", box_tol)):
        if value is not None and value < 0:
            raise YoloxkitError(f"{name} must be >= 0, got {value}")
    box = base.box_atol if box_tol is None else box_tol
    return Tolerance(
        base.prob_atol if prob_tol is None else prob_tol, box, base.box_rtol if box_tol is None else box, base.nms_count_slack
    )
