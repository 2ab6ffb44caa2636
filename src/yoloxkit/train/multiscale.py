"""Multi-scale training: the input size of each iteration and the resized batch.

Sizes are drawn from ``(seed, iteration // every)``, so a resumed run draws the sizes the
uninterrupted run drew; the first block keeps the base size (the reference's random resize
starts after its first interval).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import MultiscaleConfig


def multiscale_size(config: MultiscaleConfig, base: tuple[int, int], seed: int, iteration: int) -> tuple[int, int]:
    """Input (height, width) of global iteration ``iteration`` (0-based): a multiple of 32 drawn
    from ``random_size`` (or ``base // 32 ± range``), the width keeping the base aspect ratio."""
    h, w = base
    block = iteration // config.every
    if not config.enabled or block == 0:
        return h, w
    low, high = config.random_size or (h // 32 - config.range, h // 32 + config.range)
    low = max(low, 1)
    factor = int(np.random.default_rng([seed, 7919, block]).integers(low, high + 1))
    return 32 * factor, 32 * int(factor * w / h)


def resize_batch(images: torch.Tensor, labels: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 3, H, W]`` images resized (bilinear) to ``size`` and their label rows
    ``(class, cx, cy, w, h[, angle])`` scaled with them; unchanged when the size already is ``size``."""
    if size == tuple(images.shape[2:]):
        return images, labels
    scale_y, scale_x = size[0] / images.shape[2], size[1] / images.shape[3]
    images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    labels = labels.clone()
    labels[..., 1:5:2] *= scale_x  # cx, w (an rbox angle is kept: the aspect ratio is)
    labels[..., 2:5:2] *= scale_y  # cy, h
    return images, labels
