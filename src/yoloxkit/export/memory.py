"""Peak resident memory (RSS) growth, measured in a fresh process, for the per-backend benchmark figures.

Why a fresh process: memory freed by an earlier backend (or by the export) stays in the
allocator's pools and is reused without growing the RSS, so in a long-lived process the growth
of the next backend reads near zero. :func:`run_in_fresh_process` runs a function in a newly
spawned interpreter, after importing the modules it names (the runtime's shared libraries are
then part of the baseline, as PyTorch's are), and the function measures itself with
:class:`PeakTracker`.

How the peak is read: the kernel's high-water mark. On Linux ``VmHWM`` in ``/proc/self/status``
is the peak RSS, and writing ``5`` to ``/proc/self/clear_refs`` resets it to the current RSS, so
every peak is seen, however short. Elsewhere (or where ``clear_refs`` is not writable) a thread
samples the RSS with psutil every millisecond, which can miss shorter peaks. Growth = peak
minus the RSS when the tracker started (after a garbage collection).
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
SAMPLE_SECONDS = 0.001
MIB = 2**20


def _status_bytes(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{key} missing from {STATUS}")
    return int(match.group(1)) * 1024


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak RSS to the current RSS; False where that is not possible."""
    try:
        CLEAR_REFS.write_text("5")
        return _status_bytes("VmHWM") <= _status_bytes("VmRSS") + MIB
    except OSError:
        return False


class PeakTracker:
    """Peak RSS growth since construction; ``growth_mib()`` may be read repeatedly. Close when done."""

    def __init__(self) -> None:
        gc.collect()
        self._process = psutil.Process()
        self.base = self._process.memory_info().rss
        self._peak = self.base
        self._done = threading.Event()
        self._sampler: threading.Thread | None = None
        if _reset_high_water_mark():
            self.method = "VmHWM"
        else:
            self.method = f"psutil RSS sampled every {SAMPLE_SECONDS * 1000:g} ms"
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def growth_mib(self) -> float:
        """MiB between the peak RSS so far and the RSS at the start."""
        if self._sampler is None:
            peak = _status_bytes("VmHWM")
        else:
            peak = self._peak = max(self._peak, self._process.memory_info().rss)
        return max(0, peak - self.base) / MIB

    def close(self) -> None:
        """Stop the sampling thread, if any."""
        self._done.set()
        if self._sampler is not None:
            self._sampler.join()

    def __enter__(self) -> "PeakTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call_after_imports(modules: Sequence[str], function: Callable, args: tuple) -> Any:
    for module in modules:
        importlib.import_module(module)
    return function(*args)


def run_in_fresh_process(function: Callable, args: tuple = (), preload: Sequence[str] = ()) -> Any:
    """``function(*args)`` in a newly spawned Python process, after importing ``preload``; its result.

    ``function`` must be importable by name (a module-level function) and its arguments and
    result picklable.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_call_after_imports, tuple(preload), function, args).result()
