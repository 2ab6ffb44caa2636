"""The module that is traced into the exported graph: network, decode and optional NMS."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import YoloxkitError
from ..models import YOLOX
from ..models.fuse import fused_copy
from .nms import GraphNMS, NMSSettings


class ExportModule(nn.Module):
    """A BN-folded copy of ``model`` with the chosen outputs, ready for ``torch.onnx.export``.

    ``decode=True``: ``[B, N, 5 + C]`` (cx, cy, w, h in input pixels, objectness, class
    probabilities), the output ``Detector`` postprocesses; rotated models (Rotated YOLOX) give
    ``[B, N, 6 + C]`` with the angle (radians, le90) after the box; ``decode=False``: the same
    with raw (tx, ty, tw, th), as Megvii's exporter writes (rotated: the angle in radians,
    before the le90 wrap, after them); ``nms``: NMS in the graph on the decoded
    output (:class:`~yoloxkit.export.nms.GraphNMS`). ``half``: FP16 weights and activations
    inside, float32 input and outputs (and NMS), so callers see the same interface. The
    original model is not modified.
    """

    def __init__(
        self, model: YOLOX, decode: bool = True, nms: NMSSettings | None = None, half: bool = False
    ) -> None:
        super().__init__()
        if nms is not None and not decode:
            raise YoloxkitError("NMS in the graph needs decoded boxes (--decode)")
        self.network = fused_copy(model).cpu()
        # While tracing, the head sees feature sizes as tensors, so its grid (and its cache
        # key) follow the input size: the exported decode works for every image size.
        self.network.head.decode_in_inference = decode
        self.half = half
        if half:
            self.network.half()
        self.nms = GraphNMS(nms) if nms is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        outputs = self.network(images.half()).float() if self.half else self.network(images)
        return outputs if self.nms is None else self.nms(outputs)

    @property
    def output_names(self) -> list[str]:
        """Names of the graph outputs, in order."""
        return ["outputs"] if self.nms is None else ["detections", "num_detections"]
