"""Torch thread counts for the long training tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the body with ``count`` torch threads, restoring the previous count afterwards.

    The learning tests train with one thread, so that they neither fight the other xdist worker
    for the 2 CPU cores nor stall in oversubscribed OpenMP barriers.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
