"""TrainProgress (bar, postfix, run ETA), DataTimeWatch (data-bound warning) and memory_mb."""

from __future__ import annotations

import io
import logging

import pytest
import torch

from yoloxkit.train.progress import DataTimeWatch, TrainProgress, memory_mb


def run_epochs(progress: TrainProgress, epochs: int, iters: int) -> None:
    for epoch in range(1, epochs + 1):
        progress.start_epoch(epoch)
        for _ in range(iters):
            progress.update({"loss": 3.21, "lr": 0.001, "memory_mb": 1536.0})
        progress.end_epoch()
    progress.close()


def test_disabled_progress_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    run_epochs(TrainProgress(2, 3, enabled=False, file=stream), 2, 3)
    run_epochs(TrainProgress(2, 3, enabled=False), 2, 3)
    assert stream.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_bar_shows_epoch_and_values_without_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY, like a CI log
    run_epochs(TrainProgress(2, 4, file=stream), 2, 4)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "4/4" in text
    assert "loss 3.21" in text and "lr 1.00e-03" in text and "mem 1.5G" in text and "run 0:00" in text


def test_run_eta_counts_remaining_epochs() -> None:
    progress = TrainProgress(10, 100, enabled=False)
    assert progress.run_eta() is None
    progress.start_epoch(3)  # a resumed run: epochs 3..10 left
    progress._started -= 50.0  # pretend 50 iterations took 50 s
    for _ in range(50):
        progress.update({})
    # 50 left in epoch 3 + 7 epochs of 100, at ~1 s per iteration
    assert progress.run_eta() == pytest.approx(750, rel=0.02)


def test_postfix_text() -> None:
    progress = TrainProgress(1, 10, enabled=False)
    assert progress.postfix({"loss": 12.3456, "lr": 0.01, "memory_mb": 300.0}) == "loss 12.35 lr 1.00e-02 mem 300M"


def test_data_time_watch_warns_once_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    watch = DataTimeWatch(window=5)
    caplog.set_level(logging.WARNING, logger="yoloxkit")
    assert watch.add(10.0, 0.1) is None  # the first iteration (workers starting) is ignored
    assert [watch.add(0.01, 0.1) for _ in range(5)] == [None] * 5  # compute-bound window
    messages = [watch.add(0.2, 0.1) for _ in range(15)]  # three data-bound windows
    warnings = [m for m in messages if m]
    assert len(warnings) == 1 and messages[4] == warnings[0]
    assert "--workers" in warnings[0] and "--cache" in warnings[0] and "1.00 s" in warnings[0]
    assert [r.getMessage() for r in caplog.records] == warnings
    watch.start_epoch()
    messages = [watch.add(0.2, 0.1) for _ in range(6)]
    assert messages[-1] is not None and messages[:-1] == [None] * 5


def test_memory_mb_on_cpu_is_the_process_size() -> None:
    assert 10 < memory_mb(torch.device("cpu")) < 1e6
    assert memory_mb("cpu") > 0
