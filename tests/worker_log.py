"""A trail for test workers that die: each pytest process logs the tests it starts and ends (time,
resident memory) to ``.pytest-worker-logs/<worker>.log`` and dumps every thread's stack there on
SIGTERM, SIGHUP, SIGUSR1 or SIGUSR2. ``.ci/run`` prints the logs' last lines and the kernel's
last messages (an out-of-memory kill shows there) when ``make test`` fails, so an xdist worker
lost with "node down: Not properly terminated" leaves evidence of what it ran and how it ended.
"""

from __future__ import annotations

import faulthandler
import os
import resource
import shutil
import signal
import time
from pathlib import Path
from typing import TextIO

import pytest

SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)]
_log: TextIO | None = None


def _folder(config: pytest.Config) -> Path:
    return Path(config.rootpath) / ".pytest-worker-logs"


def _write(event: str, nodeid: str = "") -> None:
    if _log is None:
        return
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _log.write(f"{time.strftime('%H:%M:%S')} {event} {nodeid} peak_rss={rss_mb:.0f}MB\n")


def _watch_signals() -> None:
    """(Re-)register the stack dumps: a test that sets and restores a Python handler removes them."""
    for signum in SIGNALS:
        faulthandler.register(signum, file=_log, all_threads=True, chain=True)


def pytest_configure(config: pytest.Config) -> None:
    global _log
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    folder = _folder(config)
    if worker is None:  # the controller (or a run without xdist) starts a fresh trail
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(exist_ok=True)
    _log = (folder / f"{worker or 'main'}.log").open("w", buffering=1)
    _write(f"pid={os.getpid()} started")
    _watch_signals()


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _watch_signals()
    _write("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    _write("end", nodeid)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _log
    if _log is not None:
        _write("finished")
        for signum in SIGNALS:
            faulthandler.unregister(signum)
        _log.close()
        _log = None
