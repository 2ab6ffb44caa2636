"""``ExportedDetector``: ``Detector.predict`` on an ONNX Runtime or OpenVINO model.

It inherits ``predict`` / ``predict_arrays`` from :class:`~yoloxkit.detector.Detector`, so images
go through the same preprocessing contract code and the outputs through the same
postprocessing and ``Detections`` code; only the network call is the backend's:

* ``decoded`` exports: the backend is the network of the public ``forward`` stage (tensor ->
  tensor), followed by the inherited ``postprocess`` exactly as for PyTorch (so the evaluator's
  timed stages and the benchmark command run exports as they run PyTorch);
* ``nms`` exports: the graph's rows are used as they are, which needs the thresholds asked for
  to be those baked into the graph (a higher ``conf`` is fine: greedy NMS at a higher score
  threshold keeps exactly the kept rows above it);
* ``raw`` exports are refused: their decode is left to the caller's runtime by design;
* rotated exports (metadata ``box_type`` ``rbox``) never have NMS in the graph: ``decoded``
  ones run like axis-aligned ``decoded`` exports, the inherited ``postprocess`` applying
  :func:`yoloxkit.ops.rotated_postprocess` (exact rotated NMS) on the host as for the PyTorch
  rotated model; ``raw`` ones (``--raw``) are refused like any raw export.

:attr:`ExportedDetector.default_iou` (the IoU used when a caller gives none) follows the file:
the NMS IoU baked into an ``nms`` graph, the ``postprocess`` IoU of a rotated export's metadata,
else the PyTorch detector's default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..data.preprocess import PreprocessContract
from ..detector import Detector
from ..devices import resolve_device
from ..errors import YoloxkitError
from ..models import YOLOX
from ..predictor import tta_config
from ..tta import TTA, scaled_contract
from .backends import Backend, open_backend


class ExportedDetector(Detector):
    """A :class:`~yoloxkit.detector.Detector` whose network is an exported model run by a backend.

    Class names, model name and preprocessing contract come from the file's metadata. It has
    no PyTorch network (``model`` raises) and runs on the CPU.
    """

    def __init__(self, backend: Backend, input_size: int | tuple[int, int] | None = None) -> None:
        # Detector.__init__ is built around a PyTorch network, which an exported model does not
        # have: the attributes that the inherited prediction methods use are set here instead.
        meta = backend.metadata
        contract = meta.contract
        if input_size is not None:
            size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
            if size != contract.input_size and not meta.dynamic:
                raise YoloxkitError(
                    f"{backend.path.name} was exported for {contract.input_size[0]}x{contract.input_size[1]} "
                    f"input and is not dynamic: cannot run it at {size[0]}x{size[1]}"
                )
            contract = PreprocessContract(size, contract.pad_value, contract.legacy)
        self.backend = backend
        self._model = None  # no PyTorch network (inherited methods may look at it; ``model`` raises)
        self.model_name = meta.model
        self.class_names = list(meta.class_names)
        self.contract = contract
        self.device = torch.device("cpu")
        self.fuse = False
        self.pretrained = True
        self.class_conf = dict(meta.class_conf)  # per-class thresholds of the exported checkpoint

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        threads: int | None = None,
        input_size: int | tuple[int, int] | None = None,
        device: str | torch.device | None = "cpu",
    ) -> "ExportedDetector":
        """Open an ``.onnx`` (ONNX Runtime) or ``.xml`` (OpenVINO IR) file written by ``yoloxkit export``."""
        if resolve_device(device).type != "cpu":
            raise YoloxkitError(f"exported models run on the CPU here; got device {device!r}")
        return cls(open_backend(path, threads), input_size)

    @property
    def model(self) -> YOLOX:
        """Not available: an exported model has no PyTorch network."""
        raise YoloxkitError(f"{self.backend.path.name} is an exported model: it has no PyTorch network")

    @property
    def rotated(self) -> bool:
        """Whether the exported model predicts rotated boxes (from the metadata's ``box_type``)."""
        return self.backend.metadata.rotated

    @property
    def default_iou(self) -> float:
        """The IoU used when none is given: the graph's NMS IoU, a rotated export's ``postprocess`` IoU,
        else :attr:`Detector.default_iou`."""
        meta = self.backend.metadata
        if meta.nms is not None:
            return meta.nms.iou
        if meta.postprocess is not None:
            return meta.postprocess.iou
        return super().default_iou

    def _inference_model(self) -> Callable[[torch.Tensor], torch.Tensor]:
        kind = self.backend.metadata.outputs
        if kind != "decoded":
            raise YoloxkitError(
                f"{self.backend.path.name} outputs {'raw head values' if kind == 'raw' else 'NMS results'}, "
                f"not the decoded [B, N, {6 if self.rotated else 5} + C] tensor needed here; export it with --decode and without --nms"
            )
        return self._run_decoded

    def _run_decoded(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._run(batch.numpy())[0])

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        """The backend's outputs for ``batch``; a static-batch graph runs it in chunks of its batch size
        (the last chunk padded by repeating its last image, the padding's outputs dropped)."""
        meta = self.backend.metadata
        size = meta.batch
        if meta.dynamic or len(batch) == size:
            return self.backend.run(batch)
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            real = len(chunk)
            if real < size:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - real, axis=0)])
            parts.append([output[:real] for output in self.backend.run(chunk)])
        return [np.concatenate(outputs) for outputs in zip(*parts)]

    def with_tta(self, tta: TTA | bool | None = True) -> "ExportedDetector":
        """As :meth:`Detector.with_tta`; needs the decoded outputs (no NMS in the graph), and other
        scales than 1 need an export with a dynamic input size."""
        config = tta_config(tta)
        meta = self.backend.metadata
        if config is not None and meta.nms is not None:
            raise YoloxkitError(f"{self.backend.path.name} has NMS in its graph: test-time augmentation needs an export without --nms")
        if config is not None and not meta.dynamic and any(scaled_contract(self.contract, s) != self.contract for s in config.scales):
            raise YoloxkitError(f"{self.backend.path.name} has a fixed input size: test-time augmentation at other scales needs an export with --dynamic")
        return super().with_tta(config)

    def detect(self, batch: torch.Tensor, conf: float | torch.Tensor, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
        """The inherited forward + postprocess, or for a graph with NMS its own rows (same thresholds only).

        Per-class thresholds (a ``[C]`` ``conf``) filter a graph's NMS rows afterwards: the same
        detections for class-aware NMS; with class-agnostic NMS in the graph, a box of a class
        with a high threshold may already have suppressed another one.
        """
        settings = self.backend.metadata.nms
        if settings is None:
            return super().detect(batch, conf, iou, class_agnostic)
        lowest = float(conf.min()) if isinstance(conf, torch.Tensor) else conf
        if lowest < settings.conf or not math.isclose(iou, settings.iou) or class_agnostic != settings.class_agnostic:
            raise YoloxkitError(
                f"{self.backend.path.name} has NMS in the graph with conf >= {settings.conf}, iou {settings.iou}, "
                f"{'class-agnostic' if settings.class_agnostic else 'class-aware'}; asked for conf {lowest}, iou {iou}, "
                f"{'class-agnostic' if class_agnostic else 'class-aware'}: export again with those settings"
            )
        detections, counts = (torch.from_numpy(a) for a in self._run(batch.numpy()))
        per_image = []
        for rows, count in zip(detections, counts.tolist()):
            rows = rows[:count]
            limit = conf[rows[:, 6].long()] if isinstance(conf, torch.Tensor) else conf
            per_image.append(rows[rows[:, 4] * rows[:, 5] >= limit])
        return per_image

    def __repr__(self) -> str:
        meta = self.backend.metadata
        h, w = self.contract.input_size
        return (
            f"ExportedDetector({self.model_name}, {len(self.class_names)} classes, input {h}x{w}, "
            f"{self.backend.kind} {meta.precision} {meta.outputs}, threads={self.backend.threads})"
        )

