"""``yoloxkit serve``: an HTTP service around a detector (``.pth``, ``.onnx`` or OpenVINO ``.xml``)."""

from __future__ import annotations

import typer

from ..errors import YoloxkitError
from ..serve import create_app, run_server
from ..serve.app import DEFAULT_SERVE_MAX_PIXELS
from .common import load_detector
from .options import DEVICE, MODEL, WEIGHTS


def serve(
    weights: str = WEIGHTS,
    model: str = MODEL,
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    device: str = DEVICE,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_mb: float = typer.Option(20.0, "--max-mb", help="Largest request body accepted, in MiB (413 above it)."),
    max_pixels: int = typer.Option(DEFAULT_SERVE_MAX_PIXELS, "--max-pixels", help="Largest decoded image accepted, in pixels (413 above it, checked before decoding)."),
    conf: float = typer.Option(None, "--conf", help="Default score threshold (requests may pass ?conf=); default: the model's per-class thresholds, else 0.25."),
    iou: float = typer.Option(None, "--iou", help="Default NMS IoU threshold, requests may pass ?iou= (default 0.45; rotated models 0.1)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve detections over HTTP: POST /predict (an image in, JSON detections out), GET /health, GET /model."""
    if max_mb <= 0 or max_pixels < 1:
        raise YoloxkitError(f"--max-mb must be > 0 and --max-pixels >= 1, got {max_mb} and {max_pixels}")
    if not 0 <= port <= 65535:
        raise YoloxkitError(f"--port must lie in 0-65535, got {port}")
    detector = load_detector(weights, model, size, device)
    app = create_app(detector, max_bytes=int(max_mb * 2**20), conf=conf, iou=iou, max_pixels=max_pixels)
    typer.echo(f"serving {detector!r} on http://{host}:{port} (POST /predict, GET /health, GET /model)")
    run_server(app, host, port, log_level)
