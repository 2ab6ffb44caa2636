"""``data kfold`` (issue 18 §1): stratified, seeded folds as split manifests, grouped on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import one_line_error, run_cli
from yoloxkit.datasets import load_dataset

from .helpers import write_blank

BCCD = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "bccd"


def folds_of(out: Path, folds: int) -> list[dict]:
    return [yaml.safe_load((out / f"fold-{k}" / "split.yaml").read_text())["splits"] for k in range(folds)]


def test_bccd_folds_partition_the_images_and_keep_the_classes_balanced(tmp_path: Path, capfd) -> None:
    done = run_cli(capfd, "data", "kfold", BCCD, "--folds", "5", "--seed", "3", "--out", tmp_path / "f")
    assert done.code == 0, done.err
    splits = folds_of(tmp_path / "f", 5)
    everything = set(splits[0]["train"]) | set(splits[0]["val"])
    assert len(everything) == 364  # BCCD's distinct images
    vals = [set(s["val"]) for s in splits]
    assert sum(len(v) for v in vals) == 364 and set().union(*vals) == everything  # each image validated exactly once
    for s in splits:
        assert not set(s["train"]) & set(s["val"]) and set(s["train"]) | set(s["val"]) == everything
    assert max(len(v) for v in vals) - min(len(v) for v in vals) <= 1
    record = json.loads((tmp_path / "f" / "folds.json").read_text())
    assert max(record["max_share_deviation"].values()) < 0.05  # measured 0.037 (Platelets) at seed 0
    fold = load_dataset(tmp_path / "f" / "fold-2")  # usable as --data
    assert {k: len(v.images) for k, v in fold.splits.items()} == {"train": len(splits[2]["train"]), "val": len(splits[2]["val"])}
    again = run_cli(capfd, "data", "kfold", BCCD, "--folds", "5", "--seed", "3", "--out", tmp_path / "g")
    assert again.code == 0 and folds_of(tmp_path / "g", 5) == splits  # same seed, same folds
    run_cli(capfd, "data", "kfold", BCCD, "--folds", "5", "--seed", "4", "--out", tmp_path / "h")
    assert folds_of(tmp_path / "h", 5) != splits


def grouped_dataset(root: Path) -> Path:
    """Six "videos" of three frames each, one class, YOLO layout."""
    for g in range(6):
        for i in range(3):
            write_blank(root / "images" / f"video{g}_frame{i}.png", 16, 16)
            (root / "labels").mkdir(parents=True, exist_ok=True)
            (root / "labels" / f"video{g}_frame{i}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text("thing\n")
    return root


def test_groups_stay_in_one_fold(tmp_path: Path, capfd) -> None:
    data = grouped_dataset(tmp_path / "ds")
    done = run_cli(capfd, "data", "kfold", data, "--folds", "3", "--group-by", r"(video\d+)_", "--out", tmp_path / "f")
    assert done.code == 0, done.err
    assert "into 6 groups" in done.out
    for s in folds_of(tmp_path / "f", 3):
        videos_val = {Path(k).name.split("_")[0] for k in s["val"]}
        videos_train = {Path(k).name.split("_")[0] for k in s["train"]}
        assert not videos_val & videos_train and len(s["val"]) == 6  # two whole videos per fold


@pytest.mark.parametrize(
    "extra, message",
    [(["--folds", "1"], "--folds must be at least 2"), (["--group-by", "nomatch(\\d+)"], "matches no group in 18 images"),
     (["--group-by", "(unclosed"], "is not a regular expression"), (["--folds", "7", "--group-by", r"(video\d+)_"], "6 groups cannot make 7 folds")],
)  # fmt: skip
def test_bad_requests_are_one_line(tmp_path: Path, capfd, extra: list[str], message: str) -> None:
    data = grouped_dataset(tmp_path / "ds")
    one_line_error(run_cli(capfd, "data", "kfold", data, *extra, "--out", tmp_path / "f"), message)
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())
