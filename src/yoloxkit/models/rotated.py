"""Rotated YOLOX (ai4rs ``projects/rotated_yolox``): the YOLOX head plus one angle conv per level.

Everything outside the head is the standard YOLOX body. The head keeps YOLOX's towers and
predictors (same layers, same state-dict names) and adds ``ang_preds``: one 1x1 conv per level
on the regression-tower feature that outputs one raw angle in radians (``PseudoAngleCoder``:
the identity), its bias initialised like the class/objectness biases (``rotated-yolox.md`` §2.1).

Layouts:

* training mode, per level ``[B, 4 + 1 + 1 + C, H, W]`` ordered (reg, angle, obj, cls), raw;
* eval mode ``[B, N, 6 + C]``: (cx, cy, w, h, angle, obj, cls probabilities...) in input pixels,
  with ``cx = (dx + j) * s``, ``w = exp(dw) * s`` and the angle wrapped into ``[-pi/2, pi/2)``
  without any w/h swap (§2.3), so ``w < h`` can occur;
* :func:`yoloxkit.ops.rotated_postprocess` turns the eval output into per-image rows
  ``(cx, cy, w, h, angle, obj, class_prob, class_index)`` after class-aware rotated NMS (§2.4).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .head import STRIDES, YOLOXHead
from .yolox import YOLOX


def norm_angle_le90(angle: torch.Tensor) -> torch.Tensor:
    """``(angle + pi/2) mod pi - pi/2``: the le90 wrap into ``[-pi/2, pi/2)`` (no side swap).

    Float rounding can put ``remainder`` exactly on ``pi``; such values are folded to ``-pi/2``.
    """
    wrapped = torch.remainder(angle + math.pi / 2, math.pi) - math.pi / 2
    return torch.where(wrapped >= math.pi / 2, wrapped - math.pi, wrapped)


class PseudoAngleCoder:
    """The angle coder of the reference: one channel, the angle itself in radians."""

    encode_size = 1

    def encode(self, angle: torch.Tensor) -> torch.Tensor:
        """Angle targets ``[..., 1]`` -> regression targets (identity)."""
        return angle

    def decode(self, pred: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
        """Raw angle channel ``[..., 1]`` -> angles (last dim squeezed unless ``keepdim``)."""
        return pred if keepdim else pred.squeeze(-1)


class RotatedYOLOXHead(nn.Module):
    """YOLOX's decoupled head with the angle branch of the reference (see the module docstring).

    The towers and predictors are built by :class:`YOLOXHead` itself, so both heads always share
    layer shapes, initialisation and state-dict names; only ``ang_preds`` is new. It is not a
    YOLOXHead subclass on purpose: code specialised for the axis-aligned head (the fast
    inference head) must not take it for one.
    """

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        in_channels: tuple[int, int, int] = (256, 512, 1024),
        depthwise: bool = False,
        act: str = "silu",
        strides: tuple[int, ...] = STRIDES,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        base = YOLOXHead(num_classes, width, in_channels, depthwise, act, strides, prior_prob)
        self.num_classes = num_classes
        self.strides = base.strides
        self.decode_in_inference = True
        self.angle_coder = PseudoAngleCoder()
        self.cls_convs, self.reg_convs = base.cls_convs, base.reg_convs
        self.cls_preds, self.reg_preds, self.obj_preds = base.cls_preds, base.reg_preds, base.obj_preds
        self.stems = base.stems
        hidden = base.reg_preds[0].in_channels
        self.ang_preds = nn.ModuleList(nn.Conv2d(hidden, self.angle_coder.encode_size, 1) for _ in self.stems)
        bias = -math.log((1 - prior_prob) / prior_prob)  # the reference copies the cls init (§2.1)
        for conv in self.ang_preds:
            nn.init.constant_(conv.bias, bias)
        self._grid_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    grid = YOLOXHead.grid

    def forward_levels(self, features: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        """Raw per-level logits ``[B, 4 + 1 + 1 + C, H, W]`` ordered (reg, angle, obj, cls)."""
        outputs = []
        for k, x in enumerate(features):
            x = self.stems[k](x)
            cls_logits = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            predictions = (self.reg_preds[k], self.ang_preds[k], self.obj_preds[k])
            outputs.append(torch.cat([*(conv(reg_feat) for conv in predictions), cls_logits], 1))
        return outputs

    def forward(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor | list[torch.Tensor]:
        levels = self.forward_levels(features)
        if self.training:
            return levels
        raw = torch.cat([out.flatten(start_dim=2) for out in levels], 2).permute(0, 2, 1)
        outputs = torch.cat([raw[..., :5], raw[..., 5:].sigmoid()], -1)
        return self.decode(outputs, [tuple(out.shape[2:]) for out in levels]) if self.decode_in_inference else outputs

    def decode(self, outputs: torch.Tensor, level_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Raw (dx, dy, dw, dh, a) -> (cx, cy, w, h, theta): ``(d + cell) * s``, ``exp(d) * s``, le90 wrap."""
        grid, strides = self.grid(level_shapes, outputs.dtype, outputs.device)
        angle = self.angle_coder.decode(outputs[..., 4:5], keepdim=True)
        return torch.cat(
            [
                (outputs[..., :2] + grid) * strides,
                torch.exp(outputs[..., 2:4]) * strides,
                norm_angle_le90(angle),
                outputs[..., 5:],
            ],
            -1,
        )


class RotatedYOLOX(YOLOX):
    """Rotated YOLOX network (``backbone`` = PAFPN, ``head`` = :class:`RotatedYOLOXHead`).

    Eval mode: float BGR 0-255 ``[B, 3, H, W]`` in, ``[B, N, 6 + C]`` out
    (cx, cy, w, h, angle, objectness, class probabilities).
    """
