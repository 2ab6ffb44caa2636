"""The YOLOX detector module (backbone + neck + head)."""

from __future__ import annotations

import torch
from torch import nn

from .backbone import PAFPN
from .head import YOLOXHead


class YOLOX(nn.Module):
    """YOLOX network with Megvii's module layout (``backbone`` = PAFPN, ``head`` = YOLOXHead).

    Eval mode: float BGR 0-255 ``[B, 3, H, W]`` in, ``[B, N, 5 + C]`` out
    (cx, cy, w, h, objectness, class probabilities), exactly the reference's layout.
    """

    def __init__(self, backbone: PAFPN, head: YOLOXHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.head(self.backbone(x))
