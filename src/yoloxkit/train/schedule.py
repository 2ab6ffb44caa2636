"""Learning-rate schedules per iteration, as the reference computes them (``yoloxwarmcos``).

``t`` is the 0-based global iteration; the optimizer step of iteration ``t`` runs at ``lr(t)``.
With ``I`` iterations per epoch, ``T = epochs * I``, ``W = warmup_epochs * I`` and
``A = no_aug_epochs * I``: quadratic warm-up ``warmup_lr + (lr0 - warmup_lr) * (t / W)^2`` for
``t <= W``; the constant ``min_lr_ratio * lr0`` for ``t >= T - A``; cosine between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LRSchedule:
    """``schedule(t)`` -> learning rate of global iteration ``t``."""

    kind: str
    base_lr: float
    iters_per_epoch: int
    epochs: int
    warmup_epochs: float = 5.0
    warmup_lr: float = 0.0
    no_aug_epochs: int = 15
    min_lr_ratio: float = 0.05

    def __call__(self, t: int) -> float:
        total = self.epochs * self.iters_per_epoch
        warmup = self.warmup_epochs * self.iters_per_epoch
        min_lr = self.min_lr_ratio * self.base_lr
        if self.kind == "constant":
            return self.base_lr
        if warmup > 0 and t <= warmup:
            return (self.base_lr - self.warmup_lr) * (t / warmup) ** 2 + self.warmup_lr
        if self.kind == "cos":
            progress = (t - warmup) / max(total - warmup, 1)
            return min_lr + 0.5 * (self.base_lr - min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))
        flat = self.no_aug_epochs * self.iters_per_epoch
        if t >= total - flat:
            return min_lr
        span = max(total - warmup - flat, 1)
        return min_lr + 0.5 * (self.base_lr - min_lr) * (1 + math.cos(math.pi * (t - warmup) / span))
