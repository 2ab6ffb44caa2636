"""YOLOX networks: ``create("yolox-s", num_classes=80)``, ``list_models()``."""

from .complexity import count_gflops, count_parameters
from .registry import ModelSpec, canonical_name, create, get_spec, list_models
from .yolox import YOLOX

__all__ = [
    "YOLOX",
    "ModelSpec",
    "canonical_name",
    "count_gflops",
    "count_parameters",
    "create",
    "get_spec",
    "list_models",
]
