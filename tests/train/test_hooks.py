"""Trainer hooks alone (validation schedule, improvement, early stopping, checkpoints, run log) on
stand-in trainers, and a hook added to a real run: the points are called in order and a hook can
end the run without any edit of ``Trainer.fit``."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.train.test_trainer import config, synth  # noqa: F401 - the fixture is used by name
from yoloxkit.models import create
from yoloxkit.train.config import make_train_config
from yoloxkit.train.distributed import World
from yoloxkit.train.hooks import (
    CheckpointHook, ChildSignalHook, EarlyStoppingHook, EpochEnd, Hook, RunLogHook, StepEnd, ValidationHook, default_hooks,
)  # fmt: skip
from yoloxkit.train.hooks import ReportHook
from yoloxkit.train.state import Progress
from yoloxkit.train.trainer import Trainer


def stand_in(tmp_path: Path, *overrides: str, **fields: object) -> SimpleNamespace:
    """What the hooks read of a trainer: config, progress, world, device, out and two callables."""
    cfg = make_train_config(overrides=list(overrides), data="unused", model="yolox-nano", out=tmp_path / "run", **fields)
    model = create("yolox-nano", 2)
    meta = {"model": "yolox-nano", "class_names": ["a", "b"], "preprocess": {"input_size": [64, 64]}, "training": {}}
    return SimpleNamespace(
        config=cfg, progress=Progress(), world=World(), device=torch.device("cpu"), out=tmp_path / "run",
        eval_model=lambda: model, checkpoint_meta=lambda metrics: meta, resume_state=lambda: {"progress": {}},
    )  # fmt: skip


def finish_epoch(trainer: SimpleNamespace, hooks: list[Hook], epoch: int) -> EpochEnd:
    trainer.progress.epoch = epoch
    end = EpochEnd(epoch, {"epoch": epoch, "loss": 1.0 / epoch})
    for hook in hooks:
        hook.after_epoch(trainer, end)
    return end


def test_validation_is_due_at_the_interval_in_the_no_augmentation_phase_and_at_the_end(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "val.interval=4", "augment.no_aug_epochs=2", epochs=12)
    due = [epoch for epoch in range(1, 13) if ValidationHook.due(trainer, epoch)]
    assert due == [4, 8, 10, 11, 12]  # the no-augmentation phase starts one epoch early, as the reference's


def test_validation_adds_scores_and_judges_improvement(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "val.interval=1", "early_stop.min_delta=0.01", epochs=10)
    scores = iter([0.30, 0.305, 0.40, 0.10])
    hook = ValidationHook(lambda model, device: {"mAP50_95": next(scores), "mAP50": 0.5})
    ends = [finish_epoch(trainer, [hook], epoch) for epoch in range(1, 5)]
    assert [end.improved for end in ends] == [True, False, True, False]
    assert ends[0].metrics["val/mAP50_95"] == 0.30 and ends[0].validated
    assert (trainer.progress.best_metric, trainer.progress.best_epoch, trainer.progress.epochs_without_improvement) == (0.40, 3, 1)


def test_early_stopping_waits_for_patience_epochs_without_improvement(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "val.interval=1", "early_stop.patience=2", epochs=10)
    scores = iter([0.5, 0.4, 0.3, 0.2])
    hooks = [ValidationHook(lambda model, device: {"mAP50_95": next(scores)}), EarlyStoppingHook()]
    reasons = [finish_epoch(trainer, hooks, epoch).stop_reason for epoch in range(1, 4)]
    assert reasons[:2] == [None, None]
    assert reasons[2].startswith("early_stopping: no val/mAP50_95 improvement") and "best 0.5000 at epoch 1" in reasons[2]


def test_early_stopping_is_off_without_patience(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "val.interval=1", "early_stop.patience=0", epochs=10)
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1])
    hooks = [ValidationHook(lambda model, device: {"mAP50_95": next(scores)}), EarlyStoppingHook()]
    assert all(finish_epoch(trainer, hooks, epoch).stop_reason is None for epoch in range(1, 6))


def test_checkpoints_last_every_epoch_best_on_improvement_periodic_kept(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "checkpoint.every=2", "checkpoint.keep=2", epochs=10)
    trainer.out.mkdir()
    hook = CheckpointHook()
    for epoch, improved in ((1, True), (2, False), (3, False), (4, False), (5, False), (6, False)):
        trainer.progress.epoch = epoch
        hook.after_epoch(trainer, EpochEnd(epoch, {"epoch": epoch}, improved=improved))
        if epoch == 1:
            best = (trainer.out / "best.pt").stat().st_mtime_ns
    assert sorted(p.name for p in trainer.out.iterdir()) == ["best.pt", "epoch_4.pt", "epoch_6.pt", "last.pt"]
    assert (trainer.out / "best.pt").stat().st_mtime_ns == best  # never rewritten without improvement


def test_run_log_writes_config_steps_epochs_and_closes(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, "log.interval=2", "log.sinks=[csv]", "log.plots=false", epochs=10)
    hook = RunLogHook()
    hook.before_train(trainer)
    for iteration in range(1, 5):
        hook.after_step(trainer, StepEnd(iteration, 1, {"loss": 2.0}))
    trainer.progress.iteration = 4
    hook.after_epoch(trainer, EpochEnd(1, {"epoch": 1, "loss": 2.0, "val/mAP50_95": 0.1, "val/mAP50": 0.2}))
    summary: dict = {}
    hook.after_train(trainer, summary)
    hook.close()  # twice is harmless (fit closes every hook, after_train closed it already)
    assert (trainer.out / "config.yaml").is_file() and "plots" not in summary
    with open(trainer.out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["scope"], row["step"]) for row in rows] == [("step", "2"), ("step", "4"), ("epoch", "4")]
    assert rows[2]["val/mAP50_95"] == "0.1"


def test_default_hooks_order_and_main_process_only_writers(tmp_path: Path) -> None:
    trainer = stand_in(tmp_path, epochs=10)
    trainer.validator = lambda model, device: {}
    assert [type(h) for h in default_hooks(trainer)] == [ChildSignalHook, ValidationHook, CheckpointHook, RunLogHook, ReportHook, EarlyStoppingHook]
    quiet = stand_in(tmp_path, "log.report=false", epochs=10)
    quiet.validator = trainer.validator
    assert ReportHook not in [type(h) for h in default_hooks(quiet)]
    trainer.validator, trainer.world = None, World(rank=1, size=2)
    assert [type(h) for h in default_hooks(trainer)] == [ChildSignalHook, EarlyStoppingHook]


class Recorder(Hook):
    """Records the points it is called at; ends the run after ``stop_after`` epochs."""

    def __init__(self, stop_after: int) -> None:
        self.calls: list[str] = []
        self.stop_after = stop_after

    def before_train(self, trainer: Trainer) -> None:
        self.calls.append("before_train")

    def after_step(self, trainer: Trainer, step: StepEnd) -> None:
        self.calls.append(f"step {step.iteration}")

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        assert (trainer.out / "last.pt").exists() and "val/mAP50_95" in end.metrics  # the default hooks ran first
        self.calls.append(f"epoch {end.epoch}")
        if end.epoch == self.stop_after:
            end.stop_reason = "recorder: enough"

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        self.calls.append("after_train")
        summary["recorded"] = len(self.calls)

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.usefixtures("synth")
def test_an_added_hook_sees_every_point_and_can_end_the_run(synth: Path, tmp_path: Path) -> None:  # noqa: F811
    trainer = Trainer(config(synth, tmp_path / "run", "val.interval=1", epochs=4))
    recorder = Recorder(stop_after=2)
    trainer.hooks.append(recorder)
    summary = trainer.fit()
    steps = trainer.iters_per_epoch
    assert recorder.calls == [
        "before_train", *(f"step {i}" for i in range(1, steps + 1)), "epoch 1",
        *(f"step {i}" for i in range(steps + 1, 2 * steps + 1)), "epoch 2", "close", "after_train",
    ]  # fmt: skip
    assert summary["stop_reason"] == "recorder: enough" and summary["epochs_run"] == 2 and summary["recorded"] == len(recorder.calls)
    assert [m["epoch"] for m in trainer.progress.history] == [1, 2] and "val/mAP50_95" in trainer.progress.history[1]


class FailAfterOneStep(Hook):
    """Changes the SIGCHLD handler (as a loader would) and breaks the run after its first step."""

    def after_step(self, trainer: Trainer, step: StepEnd) -> None:
        import signal

        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        raise ZeroDivisionError("a failing run")


def test_a_run_with_loader_workers_gives_back_the_sigchld_handler(synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """PyTorch's DataLoader installs a process-wide SIGCHLD handler the first time it starts workers
    (once per process: the flag is reset so that this run is that first time); after the run the
    handler the process had before is back, also when the run fails."""
    import signal

    from torch.utils.data._utils import signal_handling

    def mine(signum: int, frame: object) -> None:
        """The caller's own handler."""

    monkeypatch.setattr(signal_handling, "_SIGCHLD_handler_set", False)
    previous = signal.signal(signal.SIGCHLD, mine)
    try:
        trainer = Trainer(config(synth, tmp_path / "run", "loader.workers=1", "val.interval=1", epochs=1))
        seen = []
        trainer.hooks.append(type("Peek", (Hook,), {"after_epoch": lambda self, t, end: seen.append(signal.getsignal(signal.SIGCHLD))})())
        trainer.fit()
        assert seen and seen[0] is not mine  # the loader's handler was installed during the run
        assert signal.getsignal(signal.SIGCHLD) is mine
        failing = Trainer(config(synth, tmp_path / "failing", "loader.workers=1", epochs=1))
        failing.hooks.append(FailAfterOneStep())
        with pytest.raises(ZeroDivisionError):
            failing.fit()
        assert signal.getsignal(signal.SIGCHLD) is mine
    finally:
        signal.signal(signal.SIGCHLD, previous)
