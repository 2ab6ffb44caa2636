"""``Detector`` -> ONNX file with decode (and optionally NMS) in the graph and metadata.

The graph is produced by PyTorch's TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``): it traces the model in seconds, keeps the image size dynamic through the
head's decode, and turns the scripted NMS loop into an ONNX ``Loop``. (The torch.export-based
exporter takes over a minute per model here and needs onnxscript.)
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.preprocess import PreprocessContract
from ..detector import Detector
from ..errors import YoloxkitError
from ..files import write_bytes
from .deps import require
from .graph import ExportModule
from .metadata import PRECISIONS, ExportMetadata
from .nms import NMSSettings

#: ONNX opset written (ONNX Runtime >= 1.13 and OpenVINO >= 2022.3 read it).
OPSET = 17


@dataclass(frozen=True)
class ExportOptions:
    """How to export: the options of ``yoloxkit export``."""

    input_size: tuple[int, int] | None = None  # default: the detector's contract
    batch: int = 1
    dynamic: bool = False
    decode: bool = True
    nms: NMSSettings | None = None
    precision: str = "fp32"  # fp32 | fp16 | bf16 (OpenVINO only) | int8 (post-training quantisation)
    simplify: bool = True
    opset: int = OPSET

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise YoloxkitError(f"batch must be >= 1, got {self.batch}")
        if self.nms is not None and not self.decode:
            raise YoloxkitError("NMS in the graph needs the decode in the graph: drop --raw or --nms")
        if self.precision not in PRECISIONS:
            raise YoloxkitError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def export_metadata(detector: Detector, options: ExportOptions) -> ExportMetadata:
    """The metadata that an export of ``detector`` with ``options`` carries."""
    contract = detector.contract
    if options.input_size is not None:
        contract = PreprocessContract(options.input_size, contract.pad_value, contract.legacy)
    rotated = detector.rotated
    if rotated and options.nms is not None:
        raise YoloxkitError(
            f"{detector.model_name}: rotated models are exported without NMS in the graph (drop --nms): the graph "
            "ends at the decoded [B, N, 6 + C] output and the runtime applies the exact rotated NMS on the host "
            "(docs/deployment.md, Rotated models)"
        )
    if options.nms is not None:
        outputs = "nms"
    else:
        outputs = "decoded" if options.decode else "raw"
    return ExportMetadata(
        model=detector.model_name,
        class_names=tuple(detector.class_names),
        contract=contract,
        outputs=outputs,
        nms=options.nms,
        dynamic=options.dynamic,
        batch=options.batch,
        precision=options.precision,
        strides=tuple(detector.model.head.strides),
        box_type="rbox" if rotated else "hbb",
        class_conf=dict(detector.class_conf),
    )


def export_onnx(detector: Detector, path: str | Path, options: ExportOptions = ExportOptions()) -> ExportMetadata:
    """Write ``detector`` as an ONNX model to ``path``; returns the metadata written into it.

    Precision ``fp32`` or ``fp16`` (FP16 arithmetic inside the graph, float32 input and
    outputs); ``int8`` is made from the FP32 file by :func:`~yoloxkit.export.quantize.quantize_onnx`
    and ``bf16`` is an OpenVINO runtime precision, so neither is written here.

    Input ``images``: float32 ``[B, 3, H, W]`` exactly as :func:`~yoloxkit.data.preprocess.
    preprocess_batch` makes it. Outputs: ``outputs`` (decoded or raw), or ``detections`` and
    ``num_detections`` with NMS. Rotated models give ``outputs [B, N, 6 + C]`` (cx, cy, w, h,
    angle, obj, cls...) and refuse NMS in the graph (their NMS runs on the host). ``options.dynamic`` makes B, H and W dynamic.
    """
    if options.precision not in ("fp32", "fp16"):
        raise YoloxkitError(f"export_onnx writes fp32 or fp16 graphs, not {options.precision} (use export_model)")
    onnx = require("onnx")
    metadata = export_metadata(detector, options)
    module = ExportModule(detector.model, options.decode, options.nms, options.precision == "fp16").eval()
    names = module.output_names
    example = torch.zeros((options.batch, 3, *metadata.input_size))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter warns that it is the legacy one, and the tracer that shapes become
        # constants where they do not: the dynamic sizes are checked by the parity check.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            opset_version=options.opset,
            input_names=["images"],
            output_names=names,
            dynamic_axes=_dynamic_axes(names) if options.dynamic else None,
        )
    model = onnx.load_from_string(buffer.getvalue())
    if options.simplify:
        model = require("onnxslim").slim(model)
    write_metadata(model, metadata)
    model.producer_name = "yoloxkit"
    model.producer_version = metadata.yoloxkit_version
    onnx.checker.check_model(model)
    write_bytes(path, model.SerializeToString())
    return metadata


def write_metadata(model, metadata: ExportMetadata) -> None:
    """Replace the yoloxkit entries of an ``onnx.ModelProto``'s ``metadata_props``."""
    entries = metadata.to_strings()
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for key, value in [*kept, *entries.items()]:
        model.metadata_props.add(key=key, value=value)


def read_onnx_metadata(path: str | Path) -> ExportMetadata:
    """The yoloxkit metadata of an ONNX file (weights are not loaded)."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    return ExportMetadata.from_strings({p.key: p.value for p in model.metadata_props}, str(path))


def _dynamic_axes(output_names: list[str]) -> dict[str, dict[int, str]]:
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    if output_names == ["outputs"]:
        axes["outputs"] = {0: "batch", 1: "anchors"}
    else:
        axes |= {"detections": {0: "batch"}, "num_detections": {0: "batch"}}
    return axes
