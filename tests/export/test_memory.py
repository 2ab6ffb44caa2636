"""Peak RSS growth measurement used by the benchmarks."""

from __future__ import annotations

import mmap
import os

from yoloxkit.export.memory import PeakTracker, run_in_fresh_process


def allocate_and_measure(mib: int) -> tuple[float, float, str]:
    """Growth before and after touching (then freeing) ``mib`` MiB of fresh pages.

    The pages come from an anonymous mapping, not from malloc: malloc may serve the block from
    freed memory that is still resident (seen once in a full-suite worker: growth 0 after a
    64 MiB numpy array), and the test would then depend on which tests ran before it.
    """
    with PeakTracker() as memory:
        before = memory.growth_mib()
        block = mmap.mmap(-1, mib * 2**20)
        block.write(b"\1" * len(block))
        block.close()
        return before, memory.growth_mib(), memory.method


def test_peak_tracker_sees_a_freed_allocation():
    before, after, method = allocate_and_measure(64)
    assert method and before < 8 and 60 <= after <= 200


def test_fresh_process_runs_the_function_elsewhere():
    assert run_in_fresh_process(os.getpid, preload=("json",)) != os.getpid()
