"""The trainer's mixed-precision policy: autocast dtype and gradient scaler per device.

``AmpPolicy.resolve(mode, device)`` turns the ``amp`` setting into what a training step does:

* ``"off"``: float32 everywhere;
* ``"fp16"``: float16 autocast with a gradient scaler (CUDA only: float16 has too little range
  for the gradients without one, and the scaler is what the reference's trainer uses);
* ``"bf16"``: bfloat16 autocast, no scaler (bfloat16 has float32's range); on CUDA the GPU
  must support it;
* ``"auto"``: float16 + scaler on CUDA (the reference's recipe); float32 on the CPU. bfloat16
  runs the step about twice as fast on a CPU with native bfloat16 arithmetic (AMX or
  AVX512-BF16, ``benchmarks/train_step.py``), but its gradients are far less precise than
  float16's (``docs/performance.md``), so on the CPU it is opt-in (``amp: bf16``).

Autocast covers the model's forward pass. The loss and the SimOTA assignment stay in float32
under it: ``flatten_levels`` casts the head's maps to float32 and targets are never cast
(``tests/train/test_amp.py`` checks the loss under autocast equals the loss outside it).

    policy = AmpPolicy.resolve(config.amp, device)
    scaler = policy.make_scaler()
    with policy.autocast():
        levels = model(images)
    loss = loss_fn(levels, targets)["total"]
    if scaler is None:
        loss.backward(); optimizer.step()
    else:
        scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import YoloxkitError

AmpMode = Literal["auto", "off", "bf16", "fp16"]
AMP_MODES: tuple[str, ...] = ("auto", "off", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX tiles or AVX512-BF16), per torch's cpuinfo."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@dataclass(frozen=True)
class AmpPolicy:
    """How a training step runs: ``enabled`` autocast to ``dtype`` on ``device_type``, ``use_scaler``.

    ``reason`` says in a few words why (for the run log).
    """

    device_type: str
    enabled: bool
    dtype: torch.dtype
    use_scaler: bool
    reason: str

    @classmethod
    def off(cls, device: torch.device | str, reason: str = "amp off") -> AmpPolicy:
        """Float32, no scaler."""
        return cls(torch.device(device).type, False, torch.float32, False, reason)

    @classmethod
    def resolve(cls, mode: str, device: torch.device | str) -> AmpPolicy:
        """The policy for the ``amp`` setting ``mode`` on ``device``; errors name the setting."""
        device = torch.device(device)
        kind = device.type
        if mode not in AMP_MODES:
            raise YoloxkitError(f"amp: expected one of {', '.join(AMP_MODES)}, got {mode!r}")
        if mode == "off":
            return cls.off(device)
        if mode == "auto":
            if kind == "cuda":
                return cls(kind, True, torch.float16, True, "auto: float16 + gradient scaler on CUDA")
            # bfloat16 would be ~2x faster on AMX CPUs, but its gradients are far from float32's
            # (docs/performance.md: cosine 0.26 vs fp16's 0.94); it stays opt-in (amp: bf16)
            hint = " (this CPU computes bfloat16 natively: amp: bf16 runs about 2x faster, with less precise gradients)"
            return cls.off(device, f"auto: float32 on {kind}" + (hint if kind == "cpu" and cpu_has_native_bf16() else ""))
        if mode == "fp16":
            if kind != "cuda":
                raise YoloxkitError(f"amp: 'fp16' needs a CUDA device, got {kind!r}; use 'bf16' or 'off'")
            return cls(kind, True, torch.float16, True, "fp16: float16 + gradient scaler")
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise YoloxkitError("amp: 'bf16' is not supported by this GPU; use 'fp16' or 'off'")
        if not torch.amp.is_autocast_available(kind):
            raise YoloxkitError(f"amp: autocast is not available on {kind!r}; use 'off'")
        return cls(kind, True, torch.bfloat16, False, "bf16: bfloat16, no scaler")

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for the forward pass (a no-op when disabled)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A fresh ``GradScaler`` for float16 on CUDA; ``None`` when no scaling is needed."""
        return torch.amp.GradScaler(self.device_type) if self.use_scaler else None
