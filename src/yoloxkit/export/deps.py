"""Importing optional dependencies (the ``export`` and ``serve`` extras) with a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import YoloxkitError

#: Module name -> (the PyPI package that provides it, the yoloxkit extra that installs it).
PACKAGES = {
    "onnx": ("onnx", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "onnxslim": ("onnxslim", "export"),
    "openvino": ("openvino", "export"),
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "python_multipart": ("python-multipart", "serve"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise a one-line YoloxkitError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = PACKAGES.get(module.split(".")[0], (module, "export"))
        raise YoloxkitError(
            f"{package} is not installed: pip install 'yoloxkit[{extra}]' (or pip install {package})"
        ) from None
