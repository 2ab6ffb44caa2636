"""Test-time augmentation: predict each image under several views and merge what they found.

A view is one input scale (a multiple of the model's input size, rounded to multiples of 32) and
an optional horizontal flip. Each view's decoded outputs are mapped back to the unflipped image
at the model's own scale (flip: ``cx -> w - cx``, rotated boxes also ``angle -> -angle``), then
merged either by

* ``"wbf"`` (default): NMS inside each view, then weighted box fusion across the views
  (:mod:`yoloxkit.ops.wbf`): boxes found in several views are averaged, a box found in one view
  of two keeps half its score; or
* ``"nms"``: all views' candidates pooled and suppressed together (YOLOv5's way).

The views run as the model runs (``Detector.forward``), so PyTorch models and exported models
with a dynamic input size alike support it; :class:`Views` is what the preprocessing stage
hands to the network stage when a detector has TTA on, and :class:`ViewOutputs` what the
network stage hands to the postprocessing stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .data.preprocess import PreprocessContract, preprocess_batch
from .errors import YoloxkitError
from .ops.wbf import FUSION_IOU, weighted_boxes_fusion

MERGES = ("wbf", "nms")

Postprocess = Callable[[torch.Tensor, "float | torch.Tensor", float, bool], list[torch.Tensor]]


@dataclass(frozen=True)
class TTA:
    """Which views to predict and how to merge them (defaults: the image and its mirror, fused)."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = True
    merge: str = "wbf"
    fusion_iou: float = FUSION_IOU

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise YoloxkitError(f"TTA merge must be one of {', '.join(MERGES)}, got {self.merge!r}")
        if not self.scales or any(not 0.25 <= s <= 4 for s in self.scales):
            raise YoloxkitError(f"TTA scales must lie in [0.25, 4], got {list(self.scales)}")
        if not 0.0 < self.fusion_iou < 1.0:
            raise YoloxkitError(f"TTA fusion IoU must lie in (0, 1), got {self.fusion_iou}")

    @property
    def views(self) -> list[tuple[float, bool]]:
        """Every (scale, flipped) pair predicted."""
        return [(scale, flipped) for scale in self.scales for flipped in ((False, True) if self.flip else (False,))]

    def describe(self) -> str:
        """E.g. ``2 views (scales 1, flip), merged by wbf``."""
        scales = ", ".join(f"{s:g}" for s in self.scales)
        return f"{len(self.views)} views (scales {scales}{', flip' if self.flip else ''}), merged by {self.merge}"


@dataclass
class Views:
    """Network inputs of every view of one batch, with what it takes to map the outputs back."""

    batches: list[torch.Tensor]
    flipped: list[bool]
    ratios: list[list[float]]  # per view, each image's scale (image pixels x ratio = input pixels)
    widths: list[list[float]]  # per view, each image's width in input pixels (where a flip mirrors)
    base_ratios: list[float] = field(default_factory=list)  # each image's scale at the model's own input size

    def to(self, device: torch.device | str) -> "Views":
        """The same views with their tensors on ``device``."""
        return Views([b.to(device) for b in self.batches], self.flipped, self.ratios, self.widths, self.base_ratios)


@dataclass
class ViewOutputs:
    """The network's decoded outputs for each view of :class:`Views`."""

    outputs: list[torch.Tensor]
    views: Views


def scaled_contract(contract: PreprocessContract, scale: float) -> PreprocessContract:
    """The contract at ``scale`` times its input size (each side rounded to a multiple of 32, at least 32)."""
    h, w = (max(32, int(round(side * scale / 32)) * 32) for side in contract.input_size)
    return PreprocessContract((h, w), contract.pad_value, contract.legacy)


def make_views(images: list[np.ndarray], contract: PreprocessContract, config: TTA) -> tuple[Views, list[float]]:
    """Preprocess ``images`` for every view of ``config``; returns the views and each image's scale at
    the contract's own size (the scale the merged boxes are expressed in)."""
    mirrored = [np.ascontiguousarray(image[:, ::-1]) for image in images] if config.flip else []
    batches, flipped, ratios, widths = [], [], [], []
    for scale, flip in config.views:
        batch, view_ratios = preprocess_batch(mirrored if flip else images, scaled_contract(contract, scale))
        batches.append(batch)
        flipped.append(flip)
        ratios.append(view_ratios)
        widths.append([image.shape[1] * r for image, r in zip(images, view_ratios)])
    base = [min(contract.input_size[0] / image.shape[0], contract.input_size[1] / image.shape[1]) for image in images]
    return Views(batches, flipped, ratios, widths, base), base


def unaugment(outputs: torch.Tensor, flipped: bool, ratios: Sequence[float], widths: Sequence[float], base: Sequence[float], rotated: bool) -> torch.Tensor:
    """One view's decoded ``[B, N, 5 + C]`` (rotated ``6 + C``) outputs mapped to the unflipped image at the base scale."""
    out = outputs.float().clone()
    if flipped:
        out[..., 0] = torch.tensor(widths, dtype=out.dtype, device=out.device)[:, None] - out[..., 0]
        if rotated:  # a mirror turns an angle t into -t (modulo pi); back into [-pi/2, pi/2)
            out[..., 4] = torch.remainder(-out[..., 4] + torch.pi / 2, torch.pi) - torch.pi / 2
    factor = torch.tensor([b / r for b, r in zip(base, ratios)], dtype=out.dtype, device=out.device)
    out[..., :4] *= factor[:, None, None]
    return out


def merge_views(
    outputs: ViewOutputs,
    config: TTA,
    conf: float | torch.Tensor,
    iou: float,
    class_agnostic: bool,
    rotated: bool,
    postprocess: Postprocess,
) -> list[torch.Tensor]:
    """Per-image postprocess rows at the base scale (the layout of ``postprocess``'s rows)."""
    views = outputs.views
    aligned = [
        unaugment(out, flip, ratios, widths, views.base_ratios, rotated)
        for out, flip, ratios, widths in zip(outputs.outputs, views.flipped, views.ratios, views.widths)
    ]
    if config.merge == "nms":
        return postprocess(torch.cat(aligned, dim=1), conf, iou, class_agnostic)
    per_view = [postprocess(view, conf, iou, class_agnostic) for view in aligned]
    fusion_iou = max(config.fusion_iou, iou)  # boxes that NMS kept apart in a view stay apart
    return [fuse_rows([rows[i] for rows in per_view], conf, fusion_iou) for i in range(len(aligned[0]))]


def fuse_rows(
    sources: Sequence[torch.Tensor], conf: float | torch.Tensor, fusion_iou: float = FUSION_IOU, weights: Sequence[float] | None = None
) -> torch.Tensor:
    """Weighted box fusion of several sources' postprocess rows of one image.

    Rows are ``(box..., obj, class_prob, class)`` with an xyxy box (``[K, 7]``) or an rbox
    (``[K, 8]``); the fused rows have the same layout with the fused score as ``obj`` and a
    class probability of 1, above ``conf`` (one threshold, or one per class), by descending score.
    Callers pass a ``fusion_iou`` at least the NMS IoU of the sources, so that boxes one source's
    NMS kept apart are never fused: one source alone comes back unchanged.
    """
    width = sources[0].shape[1] - 3
    arrays = [rows.detach().cpu().double().numpy() for rows in sources]
    boxes, scores, labels = weighted_boxes_fusion(
        [a[:, :width] for a in arrays], [a[:, -3] * a[:, -2] for a in arrays], [a[:, -1] for a in arrays], weights, fusion_iou
    )
    limit = conf.cpu().double().numpy()[labels] if isinstance(conf, torch.Tensor) else conf
    keep = scores >= limit
    fused = np.concatenate([boxes[keep], scores[keep, None], np.ones((keep.sum(), 1)), labels[keep, None]], axis=1)
    return torch.from_numpy(fused).to(sources[0].dtype)
