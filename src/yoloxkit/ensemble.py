"""Several detectors predicting as one, their detections fused by weighted box fusion.

Each member predicts the batch in its own way (its preprocessing contract and input size, its
test-time augmentation, PyTorch or an exported runtime); the rows of all members are brought to
the first member's input scale and fused per image (:func:`yoloxkit.tta.fuse_rows`, axis-aligned
or rotated). A box that only some members found keeps that share of its score (``avg``
fusion), so an ensemble's scores rank agreement first. Members must predict the same classes in
the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import YoloxkitError
from .ops.wbf import FUSION_IOU
from .predictor import Predictor
from .tta import TTA, fuse_rows


@dataclass
class MemberInputs:
    """Each member's network input for one batch, and each member's scale of every image."""

    batches: list[Any]
    ratios: list[list[float]]

    def to(self, device: torch.device | str) -> "MemberInputs":
        """Unchanged: each member moves its own input to its own device."""
        return self


@dataclass
class MemberOutputs:
    """Each member's decoded outputs, with the scales needed to bring its rows to the first member's."""

    outputs: list[Any]
    inputs: MemberInputs


class EnsembleDetector(Predictor):
    """Detectors of the same classes fused into one (see the module docstring).

    ``weights`` weighs the members in the fusion (default equal); ``fusion_iou`` is the IoU above
    which boxes of one class are fused (at least the NMS IoU of the prediction).
    """

    def __init__(self, detectors: Sequence[Predictor], weights: Sequence[float] | None = None, fusion_iou: float = FUSION_IOU) -> None:
        self.members = list(detectors)
        if not self.members:
            raise YoloxkitError("an ensemble needs at least one detector")
        first = self.members[0]
        for member in self.members[1:]:
            if list(member.class_names) != list(first.class_names):
                raise YoloxkitError(f"ensemble members must predict the same classes in the same order: {_names(first)} vs {_names(member)}")
            if member.rotated != first.rotated:
                raise YoloxkitError("an ensemble cannot mix rotated and axis-aligned detectors")
        if weights is not None and (len(weights) != len(self.members) or min(weights) <= 0):
            raise YoloxkitError(f"ensemble weights: expected {len(self.members)} positive numbers, got {list(weights)}")
        if not 0.0 < fusion_iou < 1.0:
            raise YoloxkitError(f"fusion IoU must lie in (0, 1), got {fusion_iou}")
        self.weights = list(weights) if weights is not None else None
        self.fusion_iou = fusion_iou
        self.class_names = list(first.class_names)
        self.contract = first.contract
        self.device = first.device
        confs = [member.class_conf for member in self.members]
        self.class_conf = dict(confs[0]) if all(c == confs[0] for c in confs) else {}

    @property
    def rotated(self) -> bool:
        """Whether the members predict rotated boxes."""
        return self.members[0].rotated

    @property
    def default_iou(self) -> float:
        """The first member's default NMS IoU (each member's NMS runs before the fusion)."""
        return self.members[0].default_iou

    def with_tta(self, tta: TTA | bool | None = True) -> "EnsembleDetector":
        """The same ensemble with test-time augmentation on (or off) in every member."""
        return EnsembleDetector([member.with_tta(tta) for member in self.members], self.weights, self.fusion_iou)

    def preprocess(self, images: list[np.ndarray]) -> tuple[MemberInputs, list[float]]:
        """Each member's preprocessing; the scales returned are the first member's."""
        prepared = [member.preprocess(images) for member in self.members]
        return MemberInputs([batch for batch, _ in prepared], [ratios for _, ratios in prepared]), prepared[0][1]

    def forward(self, batch: MemberInputs) -> MemberOutputs:
        """Each member's network on its own input."""
        return MemberOutputs([member.forward(b) for member, b in zip(self.members, batch.batches)], batch)

    def postprocess(self, outputs: MemberOutputs, conf: float | torch.Tensor, iou: float, class_agnostic: bool = False) -> list[torch.Tensor]:
        """Each member's postprocess rows at the first member's scale, fused per image."""
        base = outputs.inputs.ratios[0]
        per_member = []
        for member, out, ratios in zip(self.members, outputs.outputs, outputs.inputs.ratios):
            rows = member.postprocess(out, conf, iou, class_agnostic)
            per_member.append([_rescaled(r.cpu(), b / m) for r, b, m in zip(rows, base, ratios)])
        fusion_iou = max(self.fusion_iou, iou)  # boxes that a member's NMS kept apart stay apart
        return [fuse_rows([rows[i] for rows in per_member], conf, fusion_iou, self.weights) for i in range(len(base))]

    def __repr__(self) -> str:
        return f"EnsembleDetector({len(self.members)} members: {', '.join(map(repr, self.members))})"


def _rescaled(rows: torch.Tensor, factor: float) -> torch.Tensor:
    if factor == 1.0:
        return rows
    rows = rows.clone()
    rows[:, :4] *= factor  # xyxy or cx, cy, w, h: the angle does not scale
    return rows


def _names(detector: Predictor) -> str:
    names = list(detector.class_names)
    return f"[{', '.join(names[:4])}{', ...' if len(names) > 4 else ''}] ({len(names)})"
