"""Benchmarks cannot rot (issue 14): every script under benchmarks/ runs in its ``--smoke`` mode (tiny
sizes, seconds) and writes its ``--json`` with a ``ratio`` field (``null`` where it has no peer or
the peer scored 0) and the provenance of the numbers (command, commit, CPU model, threads, load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "common.py")
SHELL = sorted(p.name for p in BENCHMARKS.glob("*.sh"))


def test_every_script_is_covered():
    assert len(SCRIPTS) >= 12 and "dataloader.py" in SCRIPTS and "train_step.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_smoke_mode_runs_and_writes_a_ratio(script: str, tmp_path: Path):
    report = tmp_path / "result.json"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, script, "--smoke", "--json", str(report)], cwd=BENCHMARKS, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    data = json.loads(report.read_text())
    assert "ratio" in data, sorted(data)
    assert data["ratio"] is None or data["ratio"] > 0
    provenance = data.get("provenance") or {}
    assert {"command", "commit", "cpu_model", "threads", "load_average", "date"} <= set(provenance), provenance


@pytest.mark.parametrize("script", SHELL)
def test_gpu_shell_scripts_parse(script: str):
    """The GPU scripts run only where a device is lent; here their syntax is checked."""
    done = subprocess.run(["bash", "-n", script], cwd=BENCHMARKS, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
