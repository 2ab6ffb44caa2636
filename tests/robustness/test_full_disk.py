"""Issue 13: a full disk is one line ("no space left on device while writing FILE"), earlier files intact.

The disk is a small tmpfs mounted for the test (root only: elsewhere these cases skip).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import one_line_error, run_cli, snapshot, write_png, yolo_dataset


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0


@pytest.fixture()
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = tmp_path / "disk"
    if not _mount_tmpfs(folder, getattr(request, "param", "256k")):
        pytest.skip("mounting a small tmpfs needs root (full-disk cases)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_predict_on_a_full_disk_is_one_line_and_keeps_earlier_results(small_disk, tmp_path, capfd, nano_checkpoint):
    photos = tmp_path / "photos"
    for i in range(40):
        write_png(photos / f"p{i:02d}.png", 320, 240, seed=i)
    out = small_disk / "pred"
    out.mkdir()
    (out / "predictions.json").write_text('[{"file": "earlier.png"}]\n')
    earlier = snapshot(out / "predictions.json")
    run = run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", out, "--exist-ok")
    one_line_error(run, "no space left on device while writing", str(out))
    assert snapshot(out / "predictions.json") == earlier
    assert not list(out.rglob("*.part"))


@pytest.mark.parametrize("small_disk", ["1m"], indirect=True)
def test_train_on_a_full_disk_is_one_line(small_disk, tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds", 2)
    run_dir = small_disk / "run"
    args = ["train", "--data", data / "data.yaml", "--model", "yolox-nano", "--epochs", "1", "--batch", "2", "--size", "64",
            "--workers", "0", "--out", run_dir, "--set", "log.progress=false", "--set", "log.plots=false",
            "--set", "log.sinks=[csv]"]  # fmt: skip
    one_line_error(run_cli(capfd, *args), "no space left on device while writing", str(run_dir))
    assert not list(run_dir.rglob("*.part"))
