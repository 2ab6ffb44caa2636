"""plot_curves: PNGs from a synthetic metrics.csv, with and without validation rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from yoloxkit.errors import YoloxkitError
from yoloxkit.train.curves import plot_curves, smooth
from yoloxkit.train.runlog import RunLog

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LOSSES = ("loss", "loss_iou", "loss_obj", "loss_cls")


def synthetic_metrics(out: Path, validate: bool, epochs: int = 3, iters: int = 20) -> Path:
    run = RunLog(out, sinks=("csv",))
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(iters):
            step += 1
            run.log_step(step, epoch, {"lr": 0.01 * step / (epochs * iters), **{k: 5.0 / step**0.5 for k in LOSSES}})
        means = {k: 5.0 / step**0.5 for k in LOSSES}
        if validate:
            means |= {"val/mAP50_95": 0.1 * epoch, "val/mAP50": 0.2 * epoch}
        run.log_epoch(step, epoch, means)
    run.close()
    return out / "metrics.csv"


def test_curves_with_validation(tmp_path: Path) -> None:
    written = plot_curves(synthetic_metrics(tmp_path, validate=True), tmp_path / "plots")
    assert [p.name for p in written] == ["losses.png", "lr.png", "map.png"]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_map_curve_skipped_without_validation_rows(tmp_path: Path) -> None:
    written = plot_curves(synthetic_metrics(tmp_path, validate=False), tmp_path)
    assert [p.name for p in written] == ["losses.png", "lr.png"]
    assert not (tmp_path / "map.png").exists()


def test_empty_metrics_give_no_curves(tmp_path: Path) -> None:
    RunLog(tmp_path, sinks=("csv",)).close()
    assert plot_curves(tmp_path / "metrics.csv", tmp_path) == []


def test_missing_metrics_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="metrics.csv"):
        plot_curves(tmp_path / "metrics.csv", tmp_path)


def test_smooth_is_unbiased_at_the_start() -> None:
    assert smooth([2.0, 2.0, 2.0], span=10) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth([1.0, 3.0], span=1) == [1.0, 3.0]
