"""What every benchmark records beside its numbers, and the ``--smoke`` mode that CI runs.

``machine()`` is the provenance a results file needs (issue: numbers that trace): the command,
the commit, the CPU model and its vector extensions (AVX2, AVX-512, AMX: an Intel Xeon and an AMD
EPYC differ there), cores and threads, the load average before the run, the date.
``--smoke`` replaces a script's sizes by tiny ones so that it finishes in seconds: the test
``tests/test_benchmarks.py`` runs every script that way, so that none of them rots.
``learning_run`` (one training run of the learning test's short recipe, in a worker process) and
``interval`` (a mean with its 95 % t-interval over seeds) serve the benchmarks that train.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU model name (``yoloxkit.devices.cpu_name``: /proc/cpuinfo, else the platform's string)."""
    from yoloxkit.devices import cpu_name

    return cpu_name()


#: Vector extensions that decide CPU speed here (oneDNN picks kernels by them).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_flags() -> list[str]:
    """Which of :data:`ISA_FLAGS` the CPU has (from /proc/cpuinfo; empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [flag for flag in ISA_FLAGS if flag in have]
    except OSError:
        pass
    return []


def commit() -> str:
    """The checked-out commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: Environment variables that change what a CPU measurement means (threads, vector ISA limits).
SPEED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def machine(threads: int | None = None) -> dict:
    """Provenance of a measurement: command, commit, CPU, cores, threads, load average, date, versions."""
    import torch

    return {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "commit": commit(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpus": os.cpu_count(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "env": {name: os.environ[name] for name in SPEED_ENV if name in os.environ},
    }


def add_smoke(parser: argparse.ArgumentParser) -> None:
    """The ``--smoke`` flag: tiny sizes, seconds, for the CI test that keeps the script working."""
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs (CI), measures nothing")


def apply_smoke(args: argparse.Namespace, **tiny: object) -> argparse.Namespace:
    """With ``--smoke``, replace the named arguments by the tiny values."""
    if getattr(args, "smoke", False):
        for name, value in tiny.items():
            setattr(args, name, value)
    return args


def parallel_runs(worker: Callable[[Any], Any], jobs: list) -> tuple[list, float]:
    """``worker`` over ``jobs`` in two processes at a time (one per core; the workers set one
    thread each): the results in job order and the minutes taken."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(worker, jobs))
    return results, (time.perf_counter() - start) / 60


def learning_run(job: tuple) -> str:
    """One run of the learning test's recipe (tests/train/test_learning.py) in a worker process, one
    thread: ``job`` = ``(data, out, epochs, seed, weights or None, extra overrides)``; returns its best
    (or last) checkpoint."""
    import torch

    torch.set_num_threads(1)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # for tests/
    from tests.train.test_learning import train
    from yoloxkit.runs import run_checkpoint

    data, out, epochs, seed, weights, extra = job
    train(Path(data), Path(out), epochs, seed, Path(weights) if weights else None,
          "log.progress=false", "log.plots=false", "log.report=false", *extra)  # fmt: skip
    return str(run_checkpoint(Path(out)))


def interval(values: list[float]) -> list[float]:
    """Mean and its 95 % t-interval (Student t, n - 1 degrees of freedom) over ``values``."""
    import numpy as np

    from yoloxkit.evaluation.seedstats import t975

    mean = float(np.mean(values))
    if len(values) < 2:
        return [mean, mean, mean]
    half = float(t975(len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return [mean, mean - half, mean + half]


def evaluated_side(name: str, detectors: list, gt: object, runs: list[str] | None = None) -> object:
    """Each detector evaluated on ``gt`` at the reference's test settings, as one side of
    ``yoloxkit compare`` (``yoloxkit.evaluation.comparison.Side``: results and matches per run)."""
    from yoloxkit.evaluation import Evaluator
    from yoloxkit.evaluation.comparison import Side
    from yoloxkit.evaluation.inference import run_evaluation

    results, matches = [], []
    for detector in detectors:
        evaluator = Evaluator(gt)
        results.append(run_evaluation(evaluator, detector, 0.001, 0.65, 8, progress=False))
        matches.append(evaluator.matches())
    return Side(name, runs or [f"{name}-{k}" for k in range(len(detectors))], results, matches)


def compared(plain: object, candidate: object, gt: object, samples: int = 1000) -> dict:
    """``yoloxkit compare``'s judgement of ``candidate`` against ``plain`` on mAP50:95: the
    bootstrap over seeds and images, Welch's t-interval over the seeds, outcome and verdict."""
    from yoloxkit.evaluation.comparison import Comparison

    comparison = Comparison.of(plain, candidate, gt, samples, 0)
    boot, seeds = comparison.boot, comparison.seed_interval
    return {"delta": boot.delta, "bootstrap_95": [boot.low, boot.high], "seed_interval_95": [seeds.low, seeds.high] if seeds else None,
            "outcome": comparison.outcome(), "verdict": comparison.verdict()}  # fmt: skip


def quality_ratio(candidate: float, baseline: float) -> float | None:
    """``candidate / baseline`` of two accuracy figures, None when either is 0 (a side that detects
    nothing, as in smoke runs: no ratio to report)."""
    return candidate / baseline if candidate > 0 and baseline > 0 else None
