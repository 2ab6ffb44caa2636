"""CSPDarknet backbone and the PAFPN neck that wraps it (Megvii's ``YOLOPAFPN``)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import BaseConv, CSPLayer, Focus, SPPBottleneck, make_conv


class CSPDarknet(nn.Module):
    """Focus stem and four CSP stages; returns the stride 8, 16 and 32 feature maps."""

    def __init__(self, depth: float, width: float, depthwise: bool = False, act: str = "silu") -> None:
        super().__init__()
        base = int(width * 64)
        blocks = max(round(depth * 3), 1)
        self.stem = Focus(3, base, ksize=3, act=act)
        self.dark2 = self._stage(base, base * 2, blocks, depthwise, act)
        self.dark3 = self._stage(base * 2, base * 4, blocks * 3, depthwise, act)
        self.dark4 = self._stage(base * 4, base * 8, blocks * 3, depthwise, act)
        self.dark5 = nn.Sequential(
            make_conv(base * 8, base * 16, 3, 2, depthwise, act),
            SPPBottleneck(base * 16, base * 16, act=act),
            CSPLayer(base * 16, base * 16, blocks, shortcut=False, depthwise=depthwise, act=act),
        )

    @staticmethod
    def _stage(cin: int, cout: int, n: int, depthwise: bool, act: str) -> nn.Sequential:
        return nn.Sequential(
            make_conv(cin, cout, 3, 2, depthwise, act),
            CSPLayer(cout, cout, n, shortcut=True, depthwise=depthwise, act=act),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return c3, c4, c5


class PAFPN(nn.Module):
    """Path-aggregation FPN over CSPDarknet; the backbone lives in the ``backbone`` attribute."""

    def __init__(self, depth: float, width: float, depthwise: bool = False, act: str = "silu") -> None:
        super().__init__()
        c0, c1, c2 = int(256 * width), int(512 * width), int(1024 * width)
        n = round(3 * depth)
        self.backbone = CSPDarknet(depth, width, depthwise, act)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c2, c1, 1, 1, act=act)
        self.C3_p4 = CSPLayer(2 * c1, c1, n, False, depthwise=depthwise, act=act)
        self.reduce_conv1 = BaseConv(c1, c0, 1, 1, act=act)
        self.C3_p3 = CSPLayer(2 * c0, c0, n, False, depthwise=depthwise, act=act)
        self.bu_conv2 = make_conv(c0, c0, 3, 2, depthwise, act)
        self.C3_n3 = CSPLayer(2 * c0, c1, n, False, depthwise=depthwise, act=act)
        self.bu_conv1 = make_conv(c1, c1, 3, 2, depthwise, act)
        self.C3_n4 = CSPLayer(2 * c1, c2, n, False, depthwise=depthwise, act=act)
        self.out_channels = (c0, c1, c2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3, c4, c5 = self.backbone(x)
        fpn_out0 = self.lateral_conv0(c5)
        f_out0 = self.C3_p4(torch.cat([self.upsample(fpn_out0), c4], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.upsample(fpn_out1), c3], 1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0
