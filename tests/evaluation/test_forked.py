"""The evaluator's second core (evaluation/forked.py): a forked child computes part of the work
while the parent runs the rest; the results are those computed in-process, a failing child falls
back to computing in-process, and a process with other threads never forks.

The fork paths run in fresh interpreters (``forked_check.py`` and ``-c`` snippets): a pytest-xdist
worker has an I/O thread, so it computes everything in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from yoloxkit.evaluation import forked

PARENT = os.getpid()
CHILD_PID = """
import os, numpy as np
from yoloxkit.evaluation import forked
values = np.arange(1_000_000, dtype=np.float64)
pid, total = forked.start(lambda v: (os.getpid(), float(v.sum())), values)()
print(int(pid != os.getpid()), total == float(values.sum()), forked.usable_cpus())
"""


def pid_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def fails_in_a_child(values: np.ndarray) -> float:
    if os.getpid() != PARENT:
        raise RuntimeError("child only")
    return float(values.sum())


def test_the_child_computes_and_returns_the_result() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD_PID], capture_output=True, text=True, timeout=120)
    forked_, correct, cpus = done.stdout.split()
    assert done.returncode == 0 and correct == "True", done.stderr
    assert forked_ == ("1" if int(cpus) >= 2 else "0")  # one CPU: computed in-process


def test_a_failing_child_or_no_fork_computes_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.ones(10)
    assert forked.start(fails_in_a_child, values)() == 10.0
    monkeypatch.setenv(forked.NO_FORK_ENV, "1")
    pid, total = forked.start(pid_and_sum, values)()
    assert pid == os.getpid() and total == 10.0


def test_a_process_with_other_threads_does_not_fork() -> None:
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        pid, _ = forked.start(pid_and_sum, np.ones(3))()
    finally:
        stop.set()
        helper.join()
    assert pid == os.getpid()


def test_forked_compute_and_plots_equal_in_process() -> None:
    script = Path(__file__).with_name("forked_check.py")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(report["same"].values()), report
    assert report["forks"] == (2 if report["cpus"] >= 2 else 0)  # the accumulation and the confusion matrix
