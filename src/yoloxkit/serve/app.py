"""The FastAPI application: one image in, the ``Detections.to_dict`` JSON out.

Routes:

``POST /predict``  the image as a multipart upload (field ``file``, or the only file field) or as
                   the raw request body (``image/*`` or ``application/octet-stream``); query
                   parameters ``conf``, ``iou`` (both in [0, 1]) and ``class_agnostic``.
``GET /health``    ``{"status": "ok"}``.
``GET /model``     model name, class names, input size, backend and precision, the size limit.

Errors are 4xx with a one-line ``detail``: 400 empty body, undecodable image or bad multipart
form; 413 a body over ``max_bytes`` (refused from ``Content-Length`` before reading, and counted
while reading when the client streams without one) or an image whose header claims more than
``max_pixels`` pixels (refused before decoding: a 0.7 MB PNG can decode to 16000 x 16000); 415 another content type; 422 an
invalid query parameter.

FastAPI is imported when :func:`create_app` is called, so ``import yoloxkit`` works without the
``serve`` extra. (No ``from __future__ import annotations`` here: FastAPI reads the route
functions' annotations at run time.)
"""

import threading

import numpy as np

from .. import __version__
from ..data.imageheader import ImageTooLargeError
from ..data.images import decode_image
from ..detector import Detector
from ..errors import YoloxkitError
from ..export.deps import require
from ..thresholds import PREDICT_CONF

#: Default request size limit.
DEFAULT_MAX_BYTES = 20 * 2**20
#: Default limit on an image's decoded pixels (2**26, ~67 M: 192 MB as BGR uint8).
DEFAULT_SERVE_MAX_PIXELS = 1 << 26
#: Content types accepted as a raw image body (besides ``image/*``).
RAW_TYPES = ("application/octet-stream", "")


def describe_backend(detector: Detector) -> dict:
    """What runs the network: ``pytorch`` (with its device) or the exported model's runtime and precision."""
    backend = getattr(detector, "backend", None)
    if backend is None:
        return {"backend": "pytorch", "device": str(detector.device), "precision": "fp32"}
    return {
        "backend": backend.kind,
        "device": "cpu",
        "precision": backend.precision,
        "compute_precision": backend.compute_precision,
        "file": backend.path.name,
    }


def create_app(
    detector: Detector,
    max_bytes: int = DEFAULT_MAX_BYTES,
    conf: float | None = None,
    max_pixels: int = DEFAULT_SERVE_MAX_PIXELS,
    iou: float | None = None,
):
    """A FastAPI app serving ``detector``; ``conf`` / ``iou`` are the defaults of ``POST /predict``.

    ``conf`` None: the detector's per-class thresholds when it has them (``/model`` lists them
    under ``defaults.class_conf``), else 0.25; a request's ``?conf=`` overrides either.

    ``iou`` defaults to the detector's own (:attr:`Detector.default_iou`: 0.1 for rotated models).
    /model reports ``box_type`` as export metadata names it: ``hbb`` (axis-aligned), or ``rbox`` when
    detections carry ``rbox`` and ``polygon``.

    Requests are answered one at a time per process (a lock around the detector: neither the
    runtimes' inference requests nor PyTorch's cached inference copy are shared between threads).
    """
    fastapi = require("fastapi")
    require("python_multipart")  # FastAPI parses multipart forms with python-multipart
    from fastapi import HTTPException, Query, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.datastructures import UploadFile

    if max_bytes < 1 or max_pixels < 1:
        raise YoloxkitError(f"max_bytes and max_pixels must be >= 1, got {max_bytes} and {max_pixels}")
    iou = detector.default_iou if iou is None else iou
    if not ((conf is None or 0.0 <= conf <= 1.0) and 0.0 <= iou <= 1.0):
        raise YoloxkitError(f"conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
    lock = threading.Lock()
    h, w = detector.contract.input_size
    model_info = {
        "model": detector.model_name,
        "class_names": list(detector.class_names),
        "input_size": [h, w],
        "box_type": "rbox" if detector.rotated else "hbb",
        **describe_backend(detector),
        "max_bytes": max_bytes,
        "max_pixels": max_pixels,
        "defaults": {"conf": conf if conf is not None or detector.class_conf else PREDICT_CONF, "iou": iou}
        | ({"class_conf": dict(detector.class_conf)} if conf is None and detector.class_conf else {}),
    }
    app = fastapi.FastAPI(title=f"yoloxkit {detector.model_name}", version=__version__)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = [f"{'.'.join(str(part) for part in error['loc'][1:]) or error['loc'][0]}: {error['msg']}" for error in exc.errors()]
        return JSONResponse({"detail": "; ".join(lines)}, status_code=422)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(413, f"request body of {int(declared)} bytes exceeds the limit of {max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"request body exceeds the limit of {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def image_bytes(request: Request, body: bytes) -> tuple[bytes, str | None]:
        """The encoded image and its file name (multipart) from a body already read within the limit."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":

            async def replay() -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                upload = next((value for value in form.values() if isinstance(value, UploadFile)), None)
            if upload is None:
                raise HTTPException(400, "multipart form has no file field: send the image as field 'file'")
            return await upload.read(), upload.filename
        if kind.startswith("image/") or kind in RAW_TYPES:
            return body, None
        raise HTTPException(415, f"unsupported content type {kind!r}: send multipart/form-data, image/* or application/octet-stream")

    def detect(data: bytes, name: str | None, conf: float | None, iou: float, class_agnostic: bool) -> dict:
        try:
            image = decode_image(data, name or "request body", max_pixels=max_pixels)
        except ImageTooLargeError as exc:  # refused from the header, before decoding
            raise HTTPException(413, str(exc)) from None
        with lock:
            detections = detector.predict_arrays([image], [name], conf, iou, class_agnostic)[0]
        shown, _ = detections.for_output()
        return shown.to_dict()

    @app.post("/predict")
    async def predict(
        request: Request,
        conf: float | None = Query(conf, ge=0.0, le=1.0, description="score threshold (default: the model's per-class thresholds, else 0.25)"),
        iou: float = Query(iou, ge=0.0, le=1.0, description="NMS IoU threshold"),
        class_agnostic: bool = Query(False, description="one NMS over all classes"),
    ) -> dict:
        body = await read_body(request)
        data, name = await image_bytes(request, body)
        if not data:
            raise HTTPException(400, "empty image: send the image bytes (multipart field 'file' or the raw body)")
        try:
            return await run_in_threadpool(detect, data, name, conf, iou, class_agnostic)
        except HTTPException:
            raise
        except YoloxkitError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/model")
    async def model() -> dict:
        return model_info

    return app


def check_listen(host: str, port: int) -> None:
    """Refuse, in one line, an address that cannot be listened on (port in use, unknown host)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise YoloxkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run_server(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    """Serve ``app`` with uvicorn until interrupted (the address is checked first, see :func:`check_listen`)."""
    uvicorn = require("uvicorn")
    check_listen(host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
