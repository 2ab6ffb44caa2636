"""Run one NumPy-bound step in a background thread while the caller goes on: the second core.

``Evaluator.compute`` has two independent halves of about the same cost on large splits (COCO's
accumulation with the per-class thresholds, and the overlaps/error analysis/VOC/confusion).
Both are long NumPy operations on large arrays, which release the GIL, so a second thread runs
on the second core for much of the time. A thread shares the arrays without copying them and,
unlike a forked process, is safe in any process (forking a process that runs other threads can
deadlock or break what it shares: an earlier fork-based version of this module lost pytest-xdist
workers). With one usable CPU, or ``YOLOXKIT_SERIAL=1``, the step runs in the caller when it is
waited for (so its errors surface at the same point either way).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Set to any value to run every step in the calling thread.
SERIAL_ENV = "YOLOXKIT_SERIAL"


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start(function: Callable[..., T], *args: object) -> Callable[[], T]:
    """Start ``function(*args)`` in a background thread; returns a call that waits for its result
    (and raises what the function raised)."""
    if usable_cpus() < 2 or os.environ.get(SERIAL_ENV):
        return lambda: function(*args)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yoloxkit-eval")
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)  # the thread ends with the function
    return future.result
