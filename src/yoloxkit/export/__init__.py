"""Deployment: ONNX / OpenVINO export with a parity check, and runtime backends for them.

Typical use::

    from yoloxkit import Detector
    from yoloxkit.export import ExportOptions, ExportedDetector, NMSSettings, export_model

    det = Detector.from_checkpoint("best.pth")
    result = export_model(det, "deploy", "openvino", ExportOptions(dynamic=True))
    print([r.summary() for r in result.parity])
    onnx_det = ExportedDetector.from_file("deploy/yolox-s.onnx")   # same predict() interface
    onnx_det.predict("image.jpg")

The heavy dependencies (onnx, onnxruntime, onnxslim, openvino: ``pip install 'yoloxkit[export]'``)
are imported when first used.
"""

from .accuracy import MAP_TOLERANCE, MAP_TOLERANCES, MapComparison, compare_map
from .backends import Backend, OnnxRuntimeBackend, OpenVINOBackend, is_exported_model, open_backend
from .metadata import PRECISIONS, ExportMetadata
from .nms import NMSSettings
from .onnx_export import ExportOptions, export_onnx, read_onnx_metadata
from .openvino_export import export_openvino
from .images import default_images
from .parity import TOLERANCES, ParityReport, Tolerance, check_parity
from .pipeline import FORMATS, ExportResult, export_model
from .quantize import quantize_onnx
from .runtime import ExportedDetector

__all__ = [
    "FORMATS", "MAP_TOLERANCE", "MAP_TOLERANCES", "PRECISIONS", "TOLERANCES", "Backend", "MapComparison", "compare_map", "ExportMetadata", "ExportOptions", "ExportResult", "ExportedDetector",
    "NMSSettings", "OnnxRuntimeBackend", "OpenVINOBackend", "ParityReport", "Tolerance", "check_parity",
    "export_model", "export_onnx", "export_openvino", "is_exported_model", "default_images",
    "open_backend", "quantize_onnx", "read_onnx_metadata",
]  # fmt: skip
