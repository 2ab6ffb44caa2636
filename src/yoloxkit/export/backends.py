"""Runtime backends: an exported model file, compiled, run on a preprocessed batch.

A backend knows nothing of images or detections: it maps the float32 ``[B, 3, H, W]`` batch
that :func:`~yoloxkit.data.preprocess.preprocess_batch` produces to the graph's outputs, in
the order the metadata's output kind defines. :class:`~yoloxkit.export.runtime.ExportedDetector`
puts the shared preprocessing in front and the shared postprocessing behind it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from ..errors import YoloxkitError
from ..files import native_stderr_silenced
from .deps import require
from .metadata import ExportMetadata
from .onnx_export import read_onnx_metadata
from .openvino_export import read_openvino_metadata

#: File suffix -> backend kind.
SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}


def default_threads() -> int:
    """The thread count backends use unless told: PyTorch's (the cores available), so all compare alike."""
    return torch.get_num_threads()


class Backend(ABC):
    """A compiled exported model. ``run`` takes and returns float32/int64 NumPy arrays."""

    #: ``onnxruntime`` or ``openvino``.
    kind: str = ""

    def __init__(self, path: Path, metadata: ExportMetadata, threads: int) -> None:
        self.path = path
        self.metadata = metadata
        self.threads = threads
        #: The arithmetic the runtime uses (OpenVINO may differ from the export's precision).
        self.compute_precision = metadata.precision

    @property
    def precision(self) -> str:
        """The export's precision (``fp32``, ``fp16``, ``bf16`` or ``int8``), from the metadata."""
        return self.metadata.precision

    @abstractmethod
    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Outputs of the graph for one input batch (``outputs``, or ``detections, num_detections``)."""

    def check_input(self, batch: np.ndarray) -> None:
        """Refuse shapes the graph cannot take, with a one-line error instead of a runtime trace."""
        meta = self.metadata
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise YoloxkitError(f"{self.path.name}: expected a [B, 3, H, W] batch, got {tuple(batch.shape)}")
        h, w = batch.shape[2:]
        if meta.dynamic:
            if h % 32 or w % 32:
                raise YoloxkitError(f"{self.path.name}: input height and width must be multiples of 32, got {h}x{w}")
        elif batch.shape[0] != meta.batch or (h, w) != meta.input_size:
            raise YoloxkitError(
                f"{self.path.name} was exported for a static input of {meta.batch}x3x{meta.input_size[0]}x"
                f"{meta.input_size[1]}, got {'x'.join(map(str, batch.shape))} (export with --dynamic for others)"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path.name}, threads={self.threads})"


class OnnxRuntimeBackend(Backend):
    """An ``.onnx`` file run by ONNX Runtime's CPU execution provider (all graph optimisations on)."""

    kind = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ort = require("onnxruntime")
        threads = threads or default_threads()
        super().__init__(path, read_onnx_metadata(path), threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: ORT warns about unused initialisers otherwise
        # No busy-waiting between calls: spinning worker threads would take the cores from the
        # preprocessing, the postprocessing and PyTorch running beside the session.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.check_input(batch)
        return self.session.run(None, {"images": np.ascontiguousarray(batch, dtype=np.float32)})


class OpenVINOBackend(Backend):
    """An OpenVINO IR (``.xml`` + ``.bin``) compiled for the CPU with the latency hint.

    Floating-point arithmetic is FP32 except for ``bf16`` IRs, which are compiled with
    ``INFERENCE_PRECISION_HINT=bf16`` (AMX or AVX512-BF16 units; on CPUs without them OpenVINO
    computes in FP32: ``compute_precision`` says which). ``int8`` IRs run their quantised part
    in INT8 and the rest in FP32.
    """

    kind = "openvino"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ov = require("openvino")
        threads = threads or default_threads()
        core = ov.Core()
        with native_stderr_silenced():  # a broken IR makes every frontend log its own parse error
            model = core.read_model(str(path))
        super().__init__(path, read_openvino_metadata(model, str(path)), threads)
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            # FP32 arithmetic even for FP16 weights and on CPUs with bf16/fp16 units (OpenVINO's
            # default there is bf16), unless the export asks for bf16.
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
        }
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        # What the CPU plugin really computes floating-point layers in (bf16 falls back to f32
        # on CPUs without bf16 units); int8 IRs keep their name, their quantised part is INT8.
        computed = {"f32": "fp32", "bf16": "bf16"}.get(self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        if self.precision != "int8":
            self.compute_precision = computed or self.precision

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.check_input(batch)
        results = self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        # The request reuses its output buffers: copy before the next call overwrites them.
        return [np.array(results[output]) for output in self.compiled.outputs]


def open_backend(path: str | Path, threads: int | None = None) -> Backend:
    """Compile an exported model by its suffix: ``.onnx`` (ONNX Runtime) or ``.xml`` (OpenVINO IR)."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise YoloxkitError(f"{path}: not an exported model (expected {' or '.join(SUFFIXES)})")
    if not path.is_file():
        raise YoloxkitError(f"exported model not found: {path}")
    if threads is not None and threads < 1:
        raise YoloxkitError(f"threads must be >= 1, got {threads}")
    backend = OnnxRuntimeBackend if kind == "onnxruntime" else OpenVINOBackend
    try:
        return backend(path, threads)
    except YoloxkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf, ONNX Runtime and OpenVINO fail in their own types
        lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.strip().startswith("Exception from")]
        cause = lines[0] if lines else type(exc).__name__
        raise YoloxkitError(f"cannot open the exported model {path}: corrupt or not a yoloxkit export ({cause[:200]})") from None


def is_exported_model(path: str | Path) -> bool:
    """Whether ``path`` names an exported model file (by its suffix)."""
    return Path(path).suffix.lower() in SUFFIXES
