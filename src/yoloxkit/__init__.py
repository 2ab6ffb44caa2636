"""yoloxkit: YOLOX object detectors with exact reference parity.

Quick start::

    from yoloxkit import Detector
    det = Detector.from_checkpoint("yolox_s.pth")
    for result in det.predict(["a.jpg", "b.jpg"]):
        print(result.to_dict())
"""

__version__ = "0.1.0"

from .errors import YoloxkitError  # noqa: E402

__all__ = ["Boxes", "BoxFormat", "Detections", "Detector", "YoloxkitError", "__version__"]

#: Imported on first use: ``import yoloxkit`` (and the command line's start) stays light, since
#: PyTorch alone takes seconds to import on a small machine.
_LAZY = {"Detector": ".detector", "Boxes": ".structures", "BoxFormat": ".structures", "Detections": ".structures"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'yoloxkit' has no attribute {name!r}")
