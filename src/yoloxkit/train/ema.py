"""Exponential moving average of a model's weights, as the reference's ``ModelEMA``.

After ``n`` updates the decay is ``decay * (1 - exp(-n / ramp))``, so early averages follow the
model closely. Every floating-point entry of the state dict is averaged: parameters and BN
running statistics; integer buffers (BN's ``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """An fp32 copy of ``model`` in eval mode, updated after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float = 0.9998, ramp: float = 2000.0, updates: int = 0) -> None:
        self.module = copy.deepcopy(_unwrap(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.updates = updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the live weights of ``model`` into the average."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.ramp))
        live = _unwrap(model).state_dict()
        averaged, copied = [], []
        for key, value in self.module.state_dict().items():
            (averaged if value.dtype.is_floating_point else copied).append((value, live[key].detach()))
        if averaged:
            mine, theirs = zip(*averaged)
            torch._foreach_mul_(mine, d)
            torch._foreach_add_(mine, theirs, alpha=1 - d)
        for mine, theirs in copied:
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        """Averaged weights plus the update count (for exact resume)."""
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
