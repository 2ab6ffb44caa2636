"""Importing the optional deployment dependencies (the ``export`` extra) with a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import YoloxkitError

#: Module name -> the PyPI package that provides it.
PACKAGES = {"onnx": "onnx", "onnxruntime": "onnxruntime", "onnxslim": "onnxslim", "openvino": "openvino"}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise a one-line YoloxkitError saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = PACKAGES.get(module, module)
        raise YoloxkitError(
            f"{package} is not installed: pip install 'yoloxkit[export]' (or pip install {package})"
        ) from None
