"""RunLog: metrics.csv (widening header, resume, kill-safety, read-back), TensorBoard, trackers."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest

from yoloxkit.errors import YoloxkitError
from yoloxkit.train.runlog import RunLog


def log_run(out: Path, steps: range, resume_step: int | None = None) -> RunLog:
    """Two steps per epoch, validation metrics from the end of the first epoch on."""
    run = RunLog(out, sinks=("csv",), resume_step=resume_step)
    for step in steps:
        epoch = (step - 1) // 2 + 1
        run.log_step(step, epoch, {"lr": 0.01 * step, "loss": 5.0 / step})
        if step % 2 == 0:
            run.log_epoch(step, epoch, {"loss": 4.0 / step, "val/mAP50_95": 0.1 * epoch})
    return run


def test_csv_widens_header_and_leaves_missing_cells_empty(tmp_path: Path) -> None:
    log_run(tmp_path, range(1, 4)).close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "scope,epoch,step,lr,loss,val/mAP50_95"
    assert lines[1] == "step,1,1,0.01,5,"
    assert lines[3] == "epoch,1,2,,2,0.1"
    assert len(lines) == 1 + 4


def test_rows_are_on_disk_after_each_call_without_close(tmp_path: Path) -> None:
    run = RunLog(tmp_path, sinks=("csv",))
    for step in (1, 2):
        run.log_step(step, 1, {"loss": 1.0})
        assert len(RunLog.read(tmp_path / "metrics.csv")) == step
    run.log_epoch(2, 1, {"val/mAP50": 0.5})  # widening rewrite keeps earlier rows
    assert [r["scope"] for r in RunLog.read(tmp_path / "metrics.csv")] == ["step", "step", "epoch"]
    run.close()


def test_read_round_trip(tmp_path: Path) -> None:
    run = RunLog(tmp_path, sinks=("csv",))
    run.log_step(7, 2, {"loss": 3.25, "num_fg": 12, "grad_norm": float("nan")})
    run.log_epoch(7, 2, {"val/mAP50": 0.625})
    run.close()
    rows = RunLog.read(tmp_path / "metrics.csv")
    assert rows[0]["scope"] == "step" and rows[0]["epoch"] == 2 and rows[0]["step"] == 7
    assert rows[0]["loss"] == 3.25 and rows[0]["num_fg"] == 12 and math.isnan(rows[0]["grad_norm"])
    assert "val/mAP50" not in rows[0]
    assert rows[1] == {"scope": "epoch", "epoch": 2, "step": 7, "val/mAP50": 0.625}


def test_resume_drops_later_rows_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    log_run(tmp_path / "whole", range(1, 7)).close()
    # Interrupted after step 5 (the last checkpoint was at step 2, before any validation), a
    # partly written line at the end, then resumed from the checkpoint.
    log_run(tmp_path / "cut", range(1, 6)).close()
    with (tmp_path / "cut" / "metrics.csv").open("a") as handle:
        handle.write("step,3,6,0.0")
    run = RunLog(tmp_path / "cut", sinks=("csv",), resume_step=2)
    assert [r["step"] for r in RunLog.read(tmp_path / "cut" / "metrics.csv")] == [1, 2, 2]
    run.close()
    log_run(tmp_path / "cut", range(3, 7), resume_step=2).close()
    assert (tmp_path / "cut" / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()


def test_new_run_replaces_an_old_metrics_file(tmp_path: Path) -> None:
    log_run(tmp_path, range(1, 5)).close()
    RunLog(tmp_path, sinks=("csv",)).close()
    assert (tmp_path / "metrics.csv").read_text() == "scope,epoch,step\n"


def test_tensorboard_scalars_are_written(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunLog(tmp_path, config={"model": "yolox-nano", "lr": 0.01})
    run.log_step(10, 1, {"loss": 2.5})
    run.log_epoch(10, 1, {"loss": 2.0, "val/mAP50_95": 0.3})
    run.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"train/loss", "epoch/loss", "val/mAP50_95"} <= set(events.Tags()["scalars"])
    (scalar,) = events.Scalars("val/mAP50_95")
    assert scalar.step == 10 and scalar.value == pytest.approx(0.3)
    assert (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_missing_tracker_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracker: str) -> None:
    monkeypatch.setitem(sys.modules, tracker, None)  # makes `import tracker` fail
    with pytest.raises(YoloxkitError, match=f"install {tracker} to use --logger {tracker}"):
        RunLog(tmp_path, sinks=("csv", tracker))


def test_unknown_logger_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match="unknown logger 'comet'"):
        RunLog(tmp_path, sinks=("comet",))


def test_mlflow_sink_logs_params_and_finite_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    fake = types.SimpleNamespace(
        start_run=lambda run_name: calls.append(("start", run_name)),
        log_params=lambda params: calls.append(("params", params)),
        log_metrics=lambda metrics, step: calls.append(("metrics", metrics, step)),
        end_run=lambda: calls.append(("end",)),
    )
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    run = RunLog(tmp_path, sinks=("mlflow",), run_name="exp1", config={"optim": {"lr": 0.01}})
    run.log_step(3, 1, {"loss": 1.5, "grad_norm": float("inf")})
    run.close()
    assert calls == [
        ("start", "exp1"),
        ("params", {"optim.lr": "0.01"}),
        ("metrics", {"train/loss": 1.5}, 3),
        ("end",),
    ]


def test_wandb_sink_logs_at_the_global_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[tuple] = []
    wandb_run = types.SimpleNamespace(log=lambda data, step: logged.append((data, step)), finish=lambda: logged.append("end"))
    fake = types.SimpleNamespace(init=lambda **kwargs: logged.append(kwargs["name"]) or wandb_run)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = RunLog(tmp_path, sinks=("wandb",), run_name="exp2")
    run.log_epoch(4, 2, {"val/mAP50": 0.5})
    run.close()
    assert logged == ["exp2", ({"val/mAP50": 0.5}, 4), "end"]


def test_reserved_column_names_are_refused(tmp_path: Path) -> None:
    run = RunLog(tmp_path, sinks=("csv",))
    with pytest.raises(YoloxkitError, match="'step' is reserved"):
        run.log_step(1, 1, {"step": 1.0})
    run.close()


def test_read_names_the_file_and_line_of_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("scope,epoch,step,loss\nstep,1,1,oops\n")
    with pytest.raises(YoloxkitError, match=r"metrics.csv: line 2, column 'loss'"):
        RunLog.read(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(YoloxkitError, match="not a metrics file"):
        RunLog.read(path)


def test_tensorboard_hides_the_redone_steps_after_a_resume(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunLog(tmp_path, sinks=("tensorboard",))
    for step in range(1, 5):
        run.log_step(step, 1, {"loss": 10.0 + step})
    run.close()
    run = RunLog(tmp_path, sinks=("tensorboard",), resume_step=2)
    for step in (3, 4):
        run.log_step(step, 1, {"loss": 20.0 + step})
    run.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(s.step, s.value) for s in events.Scalars("train/loss")] == [(1, 11.0), (2, 12.0), (3, 23.0), (4, 24.0)]
