"""Run one CPU-bound step in a forked child while the caller goes on: the evaluator's second core.

``Evaluator.compute`` has two independent halves of about the same cost on large splits (COCO's
accumulation, and the overlaps/error analysis/VOC/confusion), which are NumPy-bound and hold the
GIL. A forked child inherits the arrays without copying or pickling them; only its result comes
back, pickled through a pipe. Where fork is unavailable, only one CPU is usable, the process
runs other Python threads, or the child fails, the step simply runs in the calling process (same
result, same code).

Only a single-threaded process forks: a child of a multi-threaded process inherits locks that
other threads may hold and can deadlock or corrupt what the parent shares with it (POSIX allows
only async-signal-safe calls there; Python 3.12 warns about it). ``yoloxkit eval --predictions``
is single-threaded when it computes; pytest-xdist workers (an I/O thread) and ``eval
--weights`` after its progress bar (tqdm's monitor thread) compute in-process instead.
"""

from __future__ import annotations

import os
import pickle
import threading
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
    if not hasattr(os, "fork") or usable_cpus() < 2 or os.environ.get(NO_FORK_ENV) or threading.active_count() > 1:
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
