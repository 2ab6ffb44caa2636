"""ONNX file -> OpenVINO IR (``.xml`` + ``.bin``), FP32 or FP16 weights, metadata carried over."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import YoloxkitError, last_line
from ..files import write_error
from .deps import require
from .metadata import ExportMetadata
from .onnx_export import read_onnx_metadata

#: Where the yoloxkit entries live in the IR's ``rt_info``.
RT_INFO_SECTION = "yoloxkit"


def export_openvino(onnx_path: str | Path, xml_path: str | Path, precision: str | None = None) -> ExportMetadata:
    """Convert a yoloxkit ONNX export to OpenVINO IR at ``xml_path`` (the ``.bin`` beside it).

    ``precision`` (default: the ONNX file's) is recorded in the IR and chooses how it runs:
    ``fp16`` stores the weights as FP16 (``compress_to_fp16``; the backend still computes in
    FP32); ``bf16`` keeps FP32 weights and makes the backend compute in bfloat16 (AMX /
    AVX512-BF16); ``int8`` needs an INT8 (QDQ) ONNX file, whose quantised part OpenVINO runs in
    INT8. The ONNX file's metadata is written into the IR's ``rt_info`` under ``yoloxkit``.
    Returns that metadata.
    """
    ov = require("openvino")
    source = read_onnx_metadata(onnx_path)
    precision = precision or source.precision
    if (precision == "int8") != (source.precision == "int8"):
        raise YoloxkitError(f"{onnx_path}: an {precision} IR is made from an int8 ONNX file only, and an int8 file gives an int8 IR")
    entries = source.to_strings() | {"precision": precision}
    model = ov.convert_model(str(onnx_path))
    for key, value in entries.items():
        model.set_rt_info(value, [RT_INFO_SECTION, key])
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    # Written into a temporary folder beside the target, then both files renamed: a kill or a
    # full disk never leaves a half-written IR (the .bin is renamed before the .xml that names it).
    with tempfile.TemporaryDirectory(prefix=f".{xml_path.stem}.", suffix=".part", dir=xml_path.parent) as tmp:
        staged = Path(tmp) / xml_path.name
        try:
            ov.save_model(model, str(staged), compress_to_fp16=precision == "fp16")
            os.replace(staged.with_suffix(".bin"), xml_path.with_suffix(".bin"))
            os.replace(staged, xml_path)
        except OSError as exc:
            raise write_error(xml_path, exc) from None
        except RuntimeError as exc:  # OpenVINO reports its own write failures as RuntimeError
            raise YoloxkitError(f"cannot write {xml_path}: {last_line(exc)}") from None
    return ExportMetadata.from_strings(entries, str(xml_path))


def read_openvino_metadata(model, source: str) -> ExportMetadata:
    """The yoloxkit metadata of a read ``openvino.Model``."""
    entries = {}
    if model.has_rt_info([RT_INFO_SECTION]):
        entries = {key: value.astype(str) for key, value in model.get_rt_info([RT_INFO_SECTION]).astype(dict).items()}
    return ExportMetadata.from_strings(entries, source)
