"""INT8 post-training quantisation of an FP32 ONNX export (ONNX Runtime's static quantiser).

What is quantised: the network up to, not including, the prediction convolutions, i.e. every
node that feeds one of the head's last convolutions (the convolutions with no convolution
after them: ``cls_preds``, ``reg_preds``, ``obj_preds``). The prediction convolutions (FP32
weights and arithmetic on their dequantised 8-bit input) and the decode (sigmoid, exp, grid
offsets, strides: box coordinates in pixels would lose whole pixels at 8 bits) stay in float32. The region is found from the graph's
topology, not from node names.

How: QDQ format (QuantizeLinear / DequantizeLinear pairs that ONNX Runtime fuses into integer
kernels and OpenVINO turns into its low-precision FakeQuantize path), weights int8 symmetric
per output channel, activations uint8 asymmetric, ranges from the min/max observed on the
calibration images, preprocessed exactly as at inference (the preprocessing contract).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.preprocess import PreprocessContract, preprocess_batch
from ..errors import YoloxkitError
from ..files import write_bytes
from .deps import require
from .metadata import ExportMetadata

#: Calibration images used unless told (from the checked dataset, see ``export.images.default_images``).
CALIBRATION_COUNT = 32


def quantized_nodes(model) -> list[str]:
    """Names of the nodes to quantise: the ancestors of the prediction convolutions (see the module docstring)."""
    producers = {output: node for node in model.graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def has_conv_after(node, seen: set[str]) -> bool:
        for output in node.output:
            for nxt in consumers.get(output, []):
                if nxt.name in seen:
                    continue
                seen.add(nxt.name)
                if nxt.op_type == "Conv" or has_conv_after(nxt, seen):
                    return True
        return False

    predictions = [n for n in model.graph.node if n.op_type == "Conv" and not has_conv_after(n, set())]
    keep: set[str] = set()
    stack = [producers[name] for conv in predictions for name in conv.input if name in producers]
    while stack:
        node = stack.pop()
        if node.name not in keep:
            keep.add(node.name)
            stack.extend(producers[name] for name in node.input if name in producers)
    if not predictions or not keep:
        raise YoloxkitError("INT8 quantisation: no prediction convolutions found in the exported graph")
    return [node.name for node in model.graph.node if node.name in keep]


def quantize_onnx(
    fp32_path: str | Path,
    int8_path: str | Path,
    images: list[np.ndarray],
    contract: PreprocessContract,
    metadata: ExportMetadata,
) -> ExportMetadata:
    """Write the INT8 (QDQ) version of the FP32 ONNX export ``fp32_path`` to ``int8_path``.

    ``images`` (BGR) are the calibration set, preprocessed with ``contract`` one at a time.
    The metadata written is ``metadata`` with precision ``int8``; it is returned.
    """
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    if not images:
        raise YoloxkitError("INT8 quantisation needs calibration images, got none")
    from .onnx_export import write_metadata  # the one writer of metadata_props

    model = onnx.load(str(fp32_path))
    include = set(quantized_nodes(model))
    exclude = [node.name for node in model.graph.node if node.name not in include]
    batches = iter([preprocess_batch([image], contract)[0].numpy() for image in images])

    class Reader(quantization.CalibrationDataReader):
        def get_next(self) -> dict | None:
            batch = next(batches, None)
            return None if batch is None else {"images": batch}

    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a pre-processing suggestion through the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="yoloxkit-int8-") as tmp:
            staged = Path(tmp) / "int8.onnx"
            quantization.quantize_static(
                str(fp32_path),
                str(staged),
                Reader(),
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=True,
                activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax,
                nodes_to_exclude=exclude,
            )
            quantized = onnx.load(str(staged))
    finally:
        root.setLevel(level)
    result = replace(metadata, precision="int8")
    write_metadata(quantized, result)
    write_bytes(int8_path, quantized.SerializeToString())
    return result
