"""``yoloxkit train --seeds``: one run per seed in OUT/seed-N, a summary over the seeds, and the
folder as one side of ``yoloxkit compare``."""

from __future__ import annotations

import json

import pytest
import torch

from tests.cli_helpers import one_line_error, run_cli, yolo_dataset
from yoloxkit.checkpoints import read_checkpoint


def test_seeds_train_one_run_each_and_compare_as_a_side(tmp_path, capfd) -> None:
    data = yolo_dataset(tmp_path / "ds", images=2)
    out = tmp_path / "runs"
    args = ["train", "--data", data / "data.yaml", "--model", "yolox-nano", "--epochs", "1", "--batch", "2", "--size", "64",
            "--workers", "0", "--set", "log.progress=false", "--set", "log.plots=false", "--out", out, "--seeds", "3,5"]  # fmt: skip
    done = run_cli(capfd, *args)
    assert done.code == 0, done.err
    for seed in (3, 5):
        assert (out / f"seed-{seed}" / "last.pt").is_file()
        summary = json.loads((out / f"seed-{seed}" / "summary.json").read_text())
        assert summary["epochs_run"] == 1
    weights = [read_checkpoint(out / f"seed-{seed}" / "last.pt").state_dict for seed in (3, 5)]
    first = next(k for k, v in weights[0].items() if v.is_floating_point())
    assert not torch.equal(weights[0][first], weights[1][first])  # the seeds trained differently
    record = json.loads((out / "seeds.json").read_text())
    assert record["seeds"] == [3, 5] and [r["seed"] for r in record["runs"]] == [3, 5]
    assert "mean val/" in done.out
    compared = run_cli(capfd, "compare", out, out / "seed-3", "--data", data / "data.yaml", "--split", "train", "--bootstrap", "20")
    assert compared.code == 0, compared.err
    assert "(2 runs)" in compared.out and "(1 run)" in compared.out
    # A second time into the same folder: refused before any work, nothing replaced.
    before = (out / "seed-3" / "last.pt").read_bytes()
    one_line_error(run_cli(capfd, *args), str(out), "already holds files", "--exist-ok")
    assert (out / "seed-3" / "last.pt").read_bytes() == before
    # Into the dataset folder itself: refused (seeds.json would land among the inputs).
    one_line_error(run_cli(capfd, *[a if a != out else data for a in args]), "holds the input")


@pytest.mark.parametrize("extra, message", [(["--seeds", "1,x"], "--seeds"), (["--seeds", "0,1", "--resume"], "--seeds needs --out")])
def test_bad_seed_requests_are_one_line(tmp_path, capfd, extra, message) -> None:
    args = ["train", "--data", tmp_path, "--model", "yolox-nano", *extra]
    if "--resume" not in extra:
        args += ["--out", tmp_path / "o"]
    one_line_error(run_cli(capfd, *args), message)
