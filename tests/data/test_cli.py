"""``yoloxkit data`` commands end to end (split, stats, synth, convert, check --json)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from yoloxkit.cli import main
from yoloxkit.datasets import Report, load_dataset
from yoloxkit.datasets.check import check_dataset, inspect_images

from .helpers import BCCD, COCO128, DOTA_SAMPLE


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _presence(dataset, split: str) -> Counter:
    return Counter(c for image in dataset.splits[split].images for c in set(image.annotations.category_ids.tolist()))


def test_split_is_stratified_reproducible_and_usable_as_data(tmp_path, capsys):
    argv = ["data", "split", str(COCO128), "--ratios", "0.8", "0.1", "0.1", "--seed", "5", "--out"]
    assert _run(argv + [str(tmp_path / "a")]) == 0
    assert "person" in capsys.readouterr().out  # per-class counts per split are printed
    assert _run(argv + [str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "split.yaml").read_text() == (tmp_path / "b" / "split.yaml").read_text()
    manifest = yaml.safe_load((tmp_path / "a" / "split.yaml").read_text())
    keys = [k for v in manifest["splits"].values() for k in v]
    assert len(keys) == len(set(keys)) == 128  # train and val of data.yaml are the same 128 images
    dataset = load_dataset(tmp_path / "a")
    sizes = {k: len(s.images) for k, s in dataset.splits.items()}
    assert sum(sizes.values()) == 128
    for name, target in (("train", 102.4), ("val", 12.8), ("test", 12.8)):
        assert abs(sizes[name] - target) <= 2, sizes  # class balance first, sizes within 2 images
    train, val = _presence(dataset, "train"), _presence(dataset, "val")
    person = train[1] + val[1] + _presence(dataset, "test")[1]
    assert abs(train[1] / person - 0.8) < 0.05  # the most common class follows the ratios
    for klass, total in (train + val + _presence(dataset, "test")).items():
        if total >= 3:
            assert train[klass] >= 1, klass  # rare classes still reach train
    backgrounds = [sum(len(i.annotations) == 0 for i in s.images) for s in dataset.splits.values()]
    assert sum(backgrounds) == 2


def test_split_ratio_errors(tmp_path, capsys):
    assert _run(["data", "split", str(BCCD), "--ratios", "0.8", "x", "--out", str(tmp_path)]) == 2
    assert _run(["data", "split", str(BCCD), "--ratios", "0.5,0.2,0.2,0.1", "--out", str(tmp_path)]) == 2
    assert "give --names" in capsys.readouterr().err


def test_stats_writes_plots_and_samples(tmp_path):
    assert _run(["data", "stats", str(DOTA_SAMPLE), "--out", str(tmp_path), "--samples", "2"]) == 0
    names = sorted(p.name for p in tmp_path.rglob("*.png")) + sorted(p.name for p in tmp_path.rglob("*.jpg"))
    assert names == ["box_aspects.png", "box_sizes.png", "class_histogram.png", "objects_per_image.png", "train_P1888.jpg"]


@pytest.mark.parametrize("rotated", [False, True])
def test_synth_gives_a_clean_dataset(tmp_path, rotated):
    argv = ["data", "synth", "--out", str(tmp_path / "s"), "--images", "12", "--classes", "3", "--size", "128"]
    assert _run(argv + (["--rotated", "--to", "dota"] if rotated else ["--to", "yolo"])) == 0
    dataset = load_dataset(tmp_path / "s")
    assert dataset.box_format.value == ("qbox" if rotated else "xyxy")
    assert dataset.num_images == 12 and dataset.num_objects > 0
    report = Report(strict=False)
    check_dataset(dataset, report, inspect_images(dataset))
    assert not report.errors


def test_convert_summary_and_refusal_to_overwrite(tmp_path, capsys):
    out = tmp_path / "voc"
    assert _run(["data", "convert", str(DOTA_SAMPLE), "--to", "voc", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "objects read 64, written 64" in captured.out
    assert "oriented boxes written as their enclosing axis-aligned boxes" in captured.err
    assert _run(["data", "convert", str(DOTA_SAMPLE), "--to", "voc", "--out", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err


def test_check_json_on_a_clean_dataset(tmp_path):
    assert _run(["data", "check", str(DOTA_SAMPLE), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["errors"] == [] and result["counts"]["objects"] == 64
    assert result["counts"]["classes"]["large-vehicle"] + result["counts"]["classes"]["small-vehicle"] == 64
