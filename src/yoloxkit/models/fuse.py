"""Inference-time folding of BatchNorm into the preceding convolution."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .blocks import BaseConv


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A Conv2d with bias that computes ``bn(conv(x))`` of an eval-mode BatchNorm."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
    return fused


def fused_copy(model: nn.Module) -> nn.Module:
    """An eval-mode deep copy of ``model`` with every BaseConv's BN folded into its conv.

    The copy's state dict no longer has BN keys; keep the original for saving and training.
    """
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, BaseConv) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn(module.conv, module.bn)
            module.bn = nn.Identity()
    return fused
