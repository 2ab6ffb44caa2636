"""Run one CPU-bound step in a forked child while the caller goes on: the evaluator's second core.

``Evaluator.compute`` has two independent halves of about the same cost on large splits (COCO's
accumulation, and the overlaps/error analysis/VOC/confusion), which are NumPy-bound and hold the
GIL. A forked child inherits the arrays without copying or pickling them; only its result comes
back, pickled through a pipe. Where fork is unavailable, or only one CPU is usable, or the
child fails, the step simply runs in the calling process (same result, same code).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Set to any value to never fork (e.g. under a debugger).
NO_FORK_ENV = "YOLOXKIT_NO_FORK"


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start(function: Callable[..., T], *args: object) -> Callable[[], T]:
    """Start ``function(*args)`` in a forked child; returns a call that waits for its result.

    Falls back to running ``function`` now, in this process, when forking cannot help or fails.
    """
    if not hasattr(os, "fork") or usable_cpus() < 2 or os.environ.get(NO_FORK_ENV):
        return _now(function, *args)
    try:
        read, write = os.pipe()
        pid = os.fork()
    except OSError:
        return _now(function, *args)
    if pid == 0:  # the child: compute, send the pickled result, leave without cleanup handlers
        try:
            os.close(read)
            try:
                payload = pickle.dumps((True, function(*args)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 - reported to the parent, which recomputes
                payload = pickle.dumps((False, None))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write)

    def wait() -> T:
        with os.fdopen(read, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        try:
            ok, value = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - a child killed mid-write: recompute here
            ok, value = False, None
        return value if ok else function(*args)

    return wait


def _now(function: Callable[..., T], *args: object) -> Callable[[], T]:
    value = function(*args)
    return lambda: value
