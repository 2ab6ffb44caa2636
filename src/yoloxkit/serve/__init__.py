"""``yoloxkit serve``: a small HTTP service around a Detector (the ``serve`` extra: FastAPI, uvicorn).

    from yoloxkit import Detector
    from yoloxkit.serve import create_app, run_server

    app = create_app(Detector.from_checkpoint("best.pth"), max_bytes=20 * 2**20)
    run_server(app, "127.0.0.1", 8000)

FastAPI and uvicorn are imported on first use; without them a one-line error says to
``pip install 'yoloxkit[serve]'``.
"""

from .app import DEFAULT_MAX_BYTES, create_app, describe_backend, run_server

__all__ = ["DEFAULT_MAX_BYTES", "create_app", "describe_backend", "run_server"]
