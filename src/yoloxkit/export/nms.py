"""NMS inside the exported graph: fixed-size outputs, exactly yoloxkit's postprocess.

``torch`` code that traces to plain ONNX operators (Sort/TopK, Gather, MatMul, a Loop), so
ONNX Runtime and OpenVINO run it without custom operators. For each image it computes what
:func:`yoloxkit.ops.postprocess` computes, with the same arithmetic:

1. boxes to corners with the same :func:`~yoloxkit.structures.boxes.convert`, each anchor's
   best class, score ``obj * class_prob``, candidates ``score >= conf``;
2. candidates ordered by descending score, ties by class then anchor index (the order in
   which postprocess returns its rows), the first ``max_candidates`` of them kept;
3. IoU of every candidate pair (the arithmetic of :func:`yoloxkit.ops.box_iou`), suppression
   edges ``i -> j`` for ``i`` ranked before ``j``, same class (unless class-agnostic) and
   IoU strictly above the threshold;
4. greedy NMS as the fixed point of "a candidate is kept unless a kept candidate ranked
   before it suppresses it", iterated from "keep all" until nothing changes (a Loop whose
   round is one batched matrix product): the algorithm of :func:`yoloxkit.ops.batched_nms`;
5. the first ``max_det`` kept rows per image, zero-padded, and their count.

The result equals postprocess's whenever an image has at most ``max_candidates``
candidates; more are cut at the lowest scores (``num_candidates`` in the parity report says
when that happens). Outputs: ``detections [B, max_det, 7]`` rows
``(x1, y1, x2, y2, obj, class_prob, class_index)`` and ``num_detections [B]`` (int64).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import YoloxkitError
from ..ops.nms import box_iou
from ..structures.boxes import BoxFormat, convert


@dataclass(frozen=True)
class NMSSettings:
    """Thresholds and sizes baked into an exported graph with NMS."""

    conf: float = 0.25
    iou: float = 0.45
    class_agnostic: bool = False
    max_det: int = 100
    max_candidates: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0 or not 0.0 <= self.iou <= 1.0:
            raise YoloxkitError(f"NMS conf and iou must lie in [0, 1], got conf={self.conf}, iou={self.iou}")
        if not 1 <= self.max_det <= self.max_candidates:
            raise YoloxkitError(
                f"need 1 <= max_det <= max_candidates, got max_det={self.max_det}, max_candidates={self.max_candidates}"
            )

    def to_dict(self) -> dict:
        """Plain-JSON form (export metadata)."""
        return asdict(self)


def _greedy_keep(suppress: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Greedy NMS on ranked candidates: the fixed point of ``keep = valid & not suppressed-by-kept``.

    ``suppress [B, K, K]`` (float 0/1) has ``[b, i, j] = 1`` when candidate ``i`` outranks and
    suppresses ``j``; ``valid [B, K]`` (float 0/1). Scripted so that the loop, whose number of
    rounds is the longest suppression chain, exports as an ONNX Loop.
    """
    keep = valid
    changed = True
    while changed:
        suppressed = torch.matmul(keep.unsqueeze(1), suppress).squeeze(1)
        new_keep = torch.relu(valid - suppressed)  # valid, unless suppressed at least once
        changed = bool(torch.ne(new_keep, keep).any())
        keep = new_keep
    return keep


@functools.cache
def scripted_greedy_keep() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """:func:`_greedy_keep` scripted, once, when a graph with NMS is first built or run.

    TorchScript is deprecated in favour of torch.export (a DeprecationWarning, a FutureWarning
    from torch 2.14), but the ONNX exporter used here (the TorchScript-based one) turns exactly
    this scripted loop into an ONNX Loop; the warning says nothing to a user and is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(_greedy_keep)


def _stable_descending(keys: torch.Tensor) -> torch.Tensor:
    """Indices sorting each row by descending key, equal keys by index.

    Eager: a stable sort. Exported: ONNX TopK over the whole row, whose specification breaks
    ties by the lower index (the exporter does not translate a stable ``sort``).
    """
    if torch.onnx.is_in_onnx_export():
        return torch.topk(keys, keys.shape[1], dim=1)[1]
    return torch.sort(keys, dim=1, descending=True, stable=True)[1]


def _rank(scores: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
    """Indices ordering each row by descending score, ties by class (when given), then index."""
    if classes is None:
        return _stable_descending(scores)
    by_class = _stable_descending(-classes)
    return torch.gather(by_class, 1, _stable_descending(torch.gather(scores, 1, by_class)))


class GraphNMS(nn.Module):
    """Decoded ``[B, N, 5 + C]`` -> ``(detections [B, max_det, 7], num_detections [B])``."""

    def __init__(self, settings: NMSSettings) -> None:
        super().__init__()
        self.settings = settings

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        k = s.max_candidates
        boxes = convert(outputs[..., :4], BoxFormat.CXCYWH, BoxFormat.XYXY)
        class_prob, class_idx = torch.max(outputs[..., 5:], -1)
        scores = outputs[..., 4] * class_prob
        rows = torch.cat([boxes, outputs[..., 4:5], class_prob.unsqueeze(-1), class_idx.unsqueeze(-1).to(outputs.dtype)], -1)
        # K padding candidates (score -1: never valid) so that there are always >= K to rank.
        rows = torch.cat([rows, torch.zeros_like(rows[:, :1]).repeat(1, k, 1)], 1)
        scores = torch.cat([scores, torch.zeros_like(scores[:, :1]).repeat(1, k) - 1], 1)
        classes = rows[..., 6]
        top = _rank(scores, None if s.class_agnostic else classes)[:, :k]
        cand = torch.gather(rows, 1, top.unsqueeze(-1).repeat(1, 1, 7))
        valid = (torch.gather(scores, 1, top) >= s.conf).to(outputs.dtype)
        # Rank 1..K computed from the data, not a K x K constant (which would add 4 MB to the file).
        rank = torch.cumsum(torch.ones_like(valid), 1)
        ranked_before = (rank.unsqueeze(2) < rank.unsqueeze(1)).to(outputs.dtype)
        edges = (box_iou(cand[..., :4], cand[..., :4]) > s.iou).to(outputs.dtype) * ranked_before
        if not s.class_agnostic:
            edges = edges * (cand[..., :, None, 6] == cand[..., None, :, 6]).to(outputs.dtype)
        keep = scripted_greedy_keep()(edges * valid.unsqueeze(2), valid)
        # Kept candidates first, in rank order: key K + 1 - rank for kept ones, 0 otherwise.
        key, first = torch.topk(keep * (k + 1 - rank), s.max_det, dim=1)
        picked = torch.gather(cand, 1, first.unsqueeze(-1).repeat(1, 1, 7))
        detections = torch.where(key.unsqueeze(-1) > 0, picked, 0.0)
        num = torch.clamp(keep.sum(1), max=s.max_det).to(torch.int64)
        return detections, num
