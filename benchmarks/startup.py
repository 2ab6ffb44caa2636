"""CLI start-up benchmark: wall time of ``yoloxkit --help``, ``yoloxkit data --help`` and ``yoloxkit
data check`` on COCO128, against ``python -c "import torch"`` (what every command paid before the
commands were loaded on use) measured in the same run, sides alternating, median of ``--repeats``.

Goals (issue 16): ``--help`` <= 0.5 s and ``data check`` on COCO128 <= 1.5 s on the 2-core machine.
``ratio`` = ``yoloxkit --help`` / ``import torch``.

    python benchmarks/startup.py --json benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import add_smoke, apply_smoke, machine

ROOT = Path(__file__).resolve().parents[1]
COCO128 = ROOT / ".." / "shared" / "datasets" / "coco128"
YOLOXKIT = [sys.executable, "-m", "yoloxkit"]


def cases() -> dict[str, list[str]]:
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "yoloxkit --help": [*YOLOXKIT, "--help"],
        "yoloxkit data --help": [*YOLOXKIT, "data", "--help"],
        "yoloxkit data check coco128": [*YOLOXKIT, "data", "check", str(COCO128)],
    }


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # data check exits 1 when it reports errors
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), repeats=1)
    commands = cases()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(1):  # warm the file cache
        for command in commands.values():
            wall(command)
    for repeat in range(args.repeats):
        order = list(commands) if repeat % 2 == 0 else list(commands)[::-1]
        for name in order:
            times[name].append(wall(commands[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:30s} {value:6.3f} s (median of {args.repeats}, min {min(times[name]):.3f})")
    ratio = medians["yoloxkit --help"] / medians["import torch"]
    print(f"ratio yoloxkit --help / import torch: {ratio:.3f}")
    if args.json:
        report = {"ratio": ratio, "ratio_is": "yoloxkit --help / python -c 'import torch' (median wall time)",
                  "median_s": medians, "seconds": times, "goals_s": {"yoloxkit --help": 0.5, "yoloxkit data check coco128": 1.5},
                  "provenance": machine()}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
