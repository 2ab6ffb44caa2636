"""The training step's memory layout, chosen per machine by measuring it.

The trainer's ``memory_format`` setting: ``channels_last`` or ``nchw`` are used as given;
``auto`` (the default) picks one. On CUDA that is channels_last (cuDNN's fast path under AMP).
On a CPU the fastest layout depends on the CPU: oneDNN's convolutions run about 20 % faster in
channels_last on AVX-512 CPUs (docs/performance.md), while on an AVX2-only EPYC the yolox-s step
was slower in channels_last than in NCHW (issue 16). So ``auto`` times the model's forward and
backward pass in both layouts (one warm-up and :data:`ROUNDS` alternating timed passes each, at
the run's input size and at most :data:`MAX_BATCH` images) and keeps NCHW only when it is
clearly faster (by :data:`MARGIN`); channels_last otherwise. The result is cached per machine and
case (CPU model and vector ISA, torch version, threads, model, input size, batch) in
``$YOLOXKIT_HOME/layout.json`` (default ``~/.cache/yoloxkit``), so it is measured once; the
chosen layout is also written into the run's configuration, so a resumed run keeps it.

The measurement uses a copy of the model and its own random generator: the run's weights and
random streams are untouched, and a run trains the same whether the choice was measured or read
from the cache.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from ..devices import cpu_name
from ..files import write_json
from ..hub import home_dir

if TYPE_CHECKING:
    from .config import TrainConfig
    from .distributed import World

logger = logging.getLogger("yoloxkit")

ROUNDS = 3
MAX_BATCH = 4
MARGIN = 0.05  # NCHW must be this much faster than channels_last to be chosen
LAYOUTS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def cache_path() -> Path:
    """``$YOLOXKIT_HOME/layout.json`` (default ``~/.cache/yoloxkit/layout.json``)."""
    return home_dir() / "layout.json"


def case_key(model_name: str, input_size: tuple[int, int], batch: int) -> str:
    """What the measured choice holds for: machine, software and the step's shape."""
    isa = torch.backends.cpu.get_cpu_capability()
    return f"{cpu_name()}|{isa}|torch {torch.__version__}|threads {torch.get_num_threads()}|{model_name}|{input_size[0]}x{input_size[1]}|batch {batch}"


def pass_seconds(model: nn.Module, images: torch.Tensor) -> float:
    """Seconds of one forward and backward pass (a stand-in loss: the mean square of every level)."""
    start = time.perf_counter()
    levels = model(images)
    sum(level.float().square().mean() for level in levels).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def measure_layouts(model: nn.Module, input_size: tuple[int, int], batch: int) -> dict[str, float]:
    """The best seconds per pass of a copy of ``model`` in each layout (sides alternate)."""
    generator = torch.Generator().manual_seed(0)
    shape = (min(batch, MAX_BATCH), 3, *input_size)
    images = torch.rand(shape, generator=generator) * 255
    copies = {name: copy.deepcopy(model).train().to(memory_format=fmt) for name, fmt in LAYOUTS.items()}
    inputs = {name: images.contiguous(memory_format=fmt) for name, fmt in LAYOUTS.items()}
    best = {name: float("inf") for name in LAYOUTS}
    for round_ in range(ROUNDS + 1):
        order = list(LAYOUTS) if round_ % 2 == 0 else list(reversed(LAYOUTS))
        for name in order:
            seconds = pass_seconds(copies[name], inputs[name])
            if round_:  # round 0 warms up
                best[name] = min(best[name], seconds)
    return best


def choose_layout(config: TrainConfig, model: nn.Module, device: torch.device, world: World,
                  measure: Callable[..., dict[str, float]] = measure_layouts) -> str:  # fmt: skip
    """``channels_last`` or ``nchw`` for the run of ``config`` (see the module docstring); several
    processes always use channels_last (their measurements could disagree)."""
    if config.memory_format != "auto":
        return config.memory_format
    if device.type != "cpu" or world.distributed:
        return "channels_last"
    input_size, batch = (int(config.augment.input_size[0]), int(config.augment.input_size[1])), config.batch // world.size
    key, path = case_key(config.model, input_size, batch), cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key) if isinstance(cache, dict) else None
    if isinstance(entry, dict) and entry.get("layout") in LAYOUTS:
        return entry["layout"]
    seconds = measure(model, input_size, batch)
    layout = "nchw" if seconds["nchw"] < (1 - MARGIN) * seconds["channels_last"] else "channels_last"
    logger.info("memory layout: %s (a training pass took %.3f s in channels_last, %.3f s in NCHW; cached in %s)",
                layout, seconds["channels_last"], seconds["nchw"], path)  # fmt: skip
    cache = cache if isinstance(cache, dict) else {}
    cache[key] = {"layout": layout, "seconds": seconds}
    try:
        write_json(path, cache)
    except OSError as error:  # a read-only home only costs the measurement next time
        logger.warning("memory layout: could not cache the choice in %s (%s)", path, error)
    return layout
