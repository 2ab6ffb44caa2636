"""Parameter and FLOP counting, computed from the network rather than typed in."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (BN buffers excluded), as the reference reports them."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, input_size: tuple[int, int]) -> float:
    """GFLOPs of one forward pass at ``input_size`` (h, w), counting 2 FLOPs per multiply-add.

    Counts convolutions (including their bias), which is where YOLOX spends its arithmetic;
    this is the convention behind the published YOLOX GFLOPs (thop MACs x 2).
    """
    macs = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        macs += output.numel() * per_output

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters())
        with torch.inference_mode():
            model(torch.zeros(1, 3, *input_size, dtype=param.dtype, device=param.device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return 2 * macs / 1e9
