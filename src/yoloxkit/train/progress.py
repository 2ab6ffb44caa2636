"""What the terminal shows while training: a progress bar per epoch and a data-loading watchdog."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import TextIO

import psutil
import torch
from tqdm import tqdm

from .summary import format_duration

logger = logging.getLogger("yoloxkit")


def _memory(mb: float) -> str:
    return f"{mb / 1024:.1f}G" if mb >= 1024 else f"{mb:.0f}M"


class TrainProgress:
    """One tqdm bar per epoch: 'epoch 3/10' with ETA (tqdm's), and postfix loss / lr / mem.

    The postfix also carries the whole run's ETA: remaining iterations times the mean wall time
    per iteration since the first :meth:`start_epoch` (so time spent between epochs, validation
    included, is counted). ``epoch`` numbers are 1-based, as displayed. On a terminal the bar
    refreshes every second; when the output is not a terminal (CI logs) every 30 s, so logs stay
    short. ``enabled=False`` prints nothing. ``file`` defaults to stderr.
    """

    def __init__(self, total_epochs: int, iters_per_epoch: int, enabled: bool = True, file: TextIO | None = None) -> None:
        self.total_epochs = total_epochs
        self.iters_per_epoch = iters_per_epoch
        self.enabled = enabled
        self.file = file
        self._bar: tqdm | None = None
        self._epoch = 0
        self._started: float | None = None
        self._done = 0  # iterations run by this process (a resumed run starts from 0)
        self._in_epoch = 0

    def start_epoch(self, epoch: int) -> None:
        """Open the bar of ``epoch`` (1-based)."""
        self.end_epoch()
        self._epoch = epoch
        self._in_epoch = 0
        if self._started is None:
            self._started = time.perf_counter()
        if not self.enabled:
            return
        file = self.file if self.file is not None else sys.stderr
        interactive = hasattr(file, "isatty") and file.isatty()
        self._bar = tqdm(
            total=self.iters_per_epoch,
            desc=f"epoch {epoch}/{self.total_epochs}",
            unit="it",
            file=file,
            dynamic_ncols=interactive,
            mininterval=1.0 if interactive else 30.0,
        )

    def run_eta(self) -> float | None:
        """Seconds left for the whole run, or ``None`` before the first iteration."""
        if self._started is None or self._done == 0:
            return None
        remaining = (self.total_epochs - self._epoch) * self.iters_per_epoch + max(self.iters_per_epoch - self._in_epoch, 0)
        return remaining * (time.perf_counter() - self._started) / self._done

    def update(self, values: Mapping[str, float]) -> None:
        """One iteration done; ``values`` may hold ``loss``, ``lr`` and ``memory_mb`` for the postfix."""
        self._done += 1
        self._in_epoch += 1
        if self._bar is None:
            return
        self._bar.update(1)
        self._bar.set_postfix_str(self.postfix(values), refresh=False)

    def postfix(self, values: Mapping[str, float]) -> str:
        """The text after the bar: ``loss 3.214 lr 1.00e-03 mem 1.2G run 1:02:05``."""
        parts = []
        if "loss" in values:
            parts.append(f"loss {values['loss']:.4g}")
        if "lr" in values:
            parts.append(f"lr {values['lr']:.2e}")
        if "memory_mb" in values:
            parts.append(f"mem {_memory(values['memory_mb'])}")
        eta = self.run_eta()
        if eta is not None:
            parts.append(f"run {format_duration(eta)}")
        return " ".join(parts)

    def end_epoch(self) -> None:
        """Close the current epoch's bar (it stays on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        """End of training (or interruption): close any open bar."""
        self.end_epoch()


class DataTimeWatch:
    """Warns (logging.warning on logger 'yoloxkit', once per epoch at most) when over a window of
    iterations the summed data-wait time exceeds compute time, suggesting --workers / --cache.

    Iterations are counted in consecutive windows of ``window``. Call :meth:`start_epoch` at the
    start of every epoch: it re-arms the warning and skips the epoch's first iteration, whose data
    time includes starting the loader's workers.
    """

    def __init__(self, window: int = 50) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.window = window
        self.start_epoch()

    def start_epoch(self) -> None:
        """A new epoch: empty the window, skip the next iteration, allow one more warning."""
        self._count = 0
        self._data = 0.0
        self._compute = 0.0
        self._skip = True
        self._warned = False

    def add(self, data_time: float, compute_time: float) -> str | None:
        """Record one iteration's seconds waiting for data and computing; the warning text when issued."""
        if self._skip:
            self._skip = False
            return None
        self._count += 1
        self._data += data_time
        self._compute += compute_time
        if self._count < self.window:
            return None
        data, compute = self._data, self._compute
        self._count, self._data, self._compute = 0, 0.0, 0.0
        if self._warned or data <= compute:
            return None
        self._warned = True
        message = (
            f"data loading is the bottleneck: over the last {self.window} iterations the model waited "
            f"{data:.2f} s for data and computed for {compute:.2f} s; "
            "try more loader workers (--workers) or caching the images (--cache ram)"
        )
        logger.warning(message)
        return message


def memory_mb(device: torch.device | str) -> float:
    """Memory in MiB: CUDA: max_memory_allocated; CPU (and other devices): process RSS (psutil)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return psutil.Process().memory_info().rss / 2**20
