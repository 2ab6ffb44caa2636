"""Peak RSS growth measurement used by the benchmarks."""

from __future__ import annotations

import os

import numpy as np

from yoloxkit.export.memory import PeakTracker, run_in_fresh_process


def allocate_and_measure(mib: int) -> tuple[float, float, str]:
    """Growth before and after touching (then freeing) ``mib`` MiB."""
    with PeakTracker() as memory:
        before = memory.growth_mib()
        block = np.ones(mib * 2**20 // 8)
        del block
        return before, memory.growth_mib(), memory.method


def test_peak_tracker_sees_a_freed_allocation():
    before, after, method = allocate_and_measure(64)
    assert method and before < 8 and 60 <= after <= 200


def test_fresh_process_runs_the_function_elsewhere():
    assert run_in_fresh_process(os.getpid, preload=("json",)) != os.getpid()
