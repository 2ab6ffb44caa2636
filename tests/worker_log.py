"""A trail for test workers that die: each pytest process logs the tests it starts and ends (time,
resident memory) to ``.pytest-worker-logs/run-<controller pid>/<worker>.log``, and writes there
every thread's stack on a fatal signal (SIGSEGV, SIGFPE, SIGABRT, SIGBUS, SIGILL), on SIGTERM or
SIGHUP (then dies as it would have) and on SIGUSR1 or SIGUSR2 (then goes on: ``kill -USR1 PID``
shows what a worker is doing). A Python-level exit writes "exited"; a worker whose log ends
without "finished" or "exited" was killed from outside (SIGKILL) or left through ``os._exit`` or
C ``exit()``. ``.ci/run`` prints the logs' last lines and the kernel's last messages (an
out-of-memory kill shows there) when ``make test`` fails.

Each run has its own folder, so a second pytest run in the same checkout never deletes the trail
of one still running; a run deletes only the folders of runs whose controller has ended.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import resource
import shutil
import signal
import time
from pathlib import Path
from typing import TextIO

import psutil
import pytest

#: Dump the stacks, then die as the signal's default action would.
DEADLY = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
#: Dump the stacks and go on.
INSPECT = [getattr(signal, name) for name in ("SIGUSR1", "SIGUSR2") if hasattr(signal, name)]
RUN_VARIABLE = "YOLOXKIT_TEST_RUN"
_log: TextIO | None = None


def _run_folder(config: pytest.Config) -> Path:
    """This run's folder; the controller (or a run without xdist) names it and removes the
    folders of ended runs; its workers inherit the name."""
    root = Path(config.rootpath) / ".pytest-worker-logs"
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        for old in root.glob("run-*"):
            pid = old.name.removeprefix("run-")
            if not pid.isdigit() or not psutil.pid_exists(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        for stray in root.glob("*.log"):  # the flat layout of earlier versions
            stray.unlink(missing_ok=True)
        os.environ[RUN_VARIABLE] = f"run-{os.getpid()}"
    folder = root / os.environ.get(RUN_VARIABLE, f"run-{os.getpid()}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write(event: str, nodeid: str = "") -> None:
    if _log is None or _log.closed:
        return
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _log.write(f"{time.strftime('%H:%M:%S')} {event} {nodeid} peak_rss={rss_mb:.0f}MB\n")


def _watch_signals() -> None:
    """(Re-)register the stack dumps: a test that sets and restores a Python handler, or pytest's
    own faulthandler plugin, may have replaced them."""
    faulthandler.enable(file=_log, all_threads=True)
    for signum in DEADLY:
        faulthandler.register(signum, file=_log, all_threads=True, chain=True)
    for signum in INSPECT:
        faulthandler.register(signum, file=_log, all_threads=True, chain=False)


def pytest_configure(config: pytest.Config) -> None:
    global _log
    folder = _run_folder(config)
    _log = (folder / f"{os.environ.get('PYTEST_XDIST_WORKER') or 'main'}.log").open("w", buffering=1)
    _write(f"pid={os.getpid()} started")
    _watch_signals()
    atexit.register(_write, "exited")


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _watch_signals()
    _write("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    _write("end", nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _log
    if _log is not None:
        _write("finished")
        for signum in DEADLY + INSPECT:
            faulthandler.unregister(signum)
        faulthandler.disable()
        _log.close()
        _log = None
