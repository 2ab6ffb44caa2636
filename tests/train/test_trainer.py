"""The trainer end to end on a tiny synthetic dataset: outputs, exact resume after a kill,
truncated checkpoints, early stopping, extension, fine-tuning with appended classes, config errors.

Runs use yolox-nano at a 64x64 input, 12 training images, batch 4, no loader workers and no
multi-scale resizing, so that an epoch takes well under a second of compute. Runs whose results
are compared bit for bit (kill and resume) all run as subprocesses with one thread.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from yoloxkit import Detector
from yoloxkit.cli import main
from yoloxkit.errors import YoloxkitError
from yoloxkit.models import create
from yoloxkit.train.config import make_train_config
from yoloxkit.train.trainer import Trainer

FAST = [
    "augment.input_size=[64,64]",
    "multiscale.enabled=false",
    "loader.workers=0",
    "log.progress=false",
    "log.interval=1",
    "val.interval=1",
    "optim.warmup_epochs=1",
    "augment.no_aug_epochs=1",
    "memory_format=channels_last",  # runs compared across processes must not each measure the layout (auto)
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """15 synthetic 64x64 images of 2 classes (12 train, 3 val) in COCO format."""
    folder = tmp_path_factory.mktemp("synth")
    with pytest.raises(SystemExit) as done:
        main(["data", "synth", "--out", str(folder), "--images", "15", "--classes", "2", "--size", "64"])
    assert done.value.code in (0, None)
    return folder


def config(synth: Path, out: Path, *extra: str, **fields: object):
    return make_train_config(overrides=FAST + list(extra), data=str(synth), model="yolox-nano", batch=4, out=out, **fields)


def train_cli(synth: Path, out: Path, epochs: int, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "yoloxkit", "train", "--data", str(synth), "--model", "yolox-nano",
            "--epochs", str(epochs), "--batch", "4", "--out", str(out)]  # fmt: skip
    for item in FAST + list(extra):
        args += ["--set", item]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def raw_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["resume"]["model"]


def test_fit_writes_checkpoints_logs_and_summary(synth: Path, tmp_path: Path) -> None:
    # also exercises periodic checkpoints, progressive unfreezing and repeat-factor sampling
    extra = ["checkpoint.every=1", "checkpoint.keep=1", "finetune.unfreeze=backbone@0,none@1", "loader.sampling=repeat_factor"]
    summary = Trainer(config(synth, tmp_path / "run", *extra, epochs=2)).fit()
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "metrics.csv", "summary.json", "config.yaml", "losses.png", "lr.png", "map.png"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in run.glob("epoch_*.pt")) == ["epoch_2.pt"]
    assert summary["stop_reason"] == "completed" and summary["epochs_run"] == 2
    assert json.loads((run / "summary.json").read_text())["classes"] == summary["classes"]
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("scope,epoch,step") and sum(r.startswith("epoch,") for r in rows) == 2
    detector = Detector.from_checkpoint(run / "best.pt")  # a self-describing checkpoint of the EMA model
    assert detector.class_names == summary["classes"] and detector.contract.input_size == (64, 64)
    assert detector.model_name == "yolox-nano"


def test_killed_run_resumes_to_the_same_weights(synth: Path, tmp_path: Path) -> None:
    whole = train_cli(synth, tmp_path / "whole", 3)
    assert whole.wait(timeout=600) == 0, whole.stdout.read()

    killed = train_cli(synth, tmp_path / "killed", 3)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 600
    while not last.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    saved_epoch = torch.load(last, weights_only=True)["training"]["epoch"]
    assert saved_epoch < 3

    resumed = subprocess.run([sys.executable, "-m", "yoloxkit", "train", "--resume", "--out", str(tmp_path / "killed")],
                             env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    expected, got = raw_weights(tmp_path / "whole"), raw_weights(tmp_path / "killed")
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    whole_summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    resumed_summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert resumed_summary["final"]["val/mAP50_95"] == whole_summary["final"]["val/mAP50_95"]
    assert resumed_summary["final"]["loss"] == whole_summary["final"]["loss"]


def test_truncated_checkpoint_is_detected(synth: Path, tmp_path: Path) -> None:
    Trainer(config(synth, tmp_path / "run", epochs=1)).fit()
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(YoloxkitError, match="corrupt or truncated"):
        Trainer.resume(tmp_path / "run")


def test_resume_extends_a_finished_run(synth: Path, tmp_path: Path) -> None:
    Trainer(config(synth, tmp_path / "run", epochs=1)).fit()
    with pytest.raises(YoloxkitError, match="already trained 1 epochs"):
        Trainer.resume(tmp_path / "run").fit()
    summary = Trainer.resume(tmp_path / "run", epochs=2).fit()
    assert summary["epochs_run"] == 2 and summary["epochs_planned"] == 2


def test_early_stopping_writes_its_reason(synth: Path, tmp_path: Path) -> None:
    # lr 1e-12: the validation metric cannot improve after the first epoch
    summary = Trainer(config(synth, tmp_path / "run", "optim.lr=1e-12", "early_stop.patience=1", epochs=5)).fit()
    assert summary["epochs_run"] == 2
    assert summary["stop_reason"].startswith("early_stopping: no val/mAP50_95 improvement")


def test_append_classes_keeps_coco_rows(synth: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    coco = create("yolox-nano", num_classes=80)
    torch.save({"model": coco.state_dict()}, tmp_path / "coco.pth")
    trainer = Trainer(config(synth, tmp_path / "run", "finetune.class_mode=append", epochs=1, weights=str(tmp_path / "coco.pth")))
    assert len(trainer.class_names) == 82 and trainer.class_names[80:] == ["red-rectangle", "red-ellipse"]
    state = trainer.model.state_dict()
    for k in range(3):
        assert torch.equal(state[f"head.cls_preds.{k}.weight"][:80], coco.state_dict()[f"head.cls_preds.{k}.weight"])
    assert trainer.class_map.tolist() == [80, 81]
    summary = trainer.fit()  # trains on remapped labels; validation drops the 80 COCO classes
    assert summary["load_report"]["partially_loaded"]


def test_config_errors_name_the_field(synth: Path, tmp_path: Path) -> None:
    with pytest.raises(YoloxkitError, match=r"optim.momentum: expected a number"):
        config(synth, tmp_path, "optim.momentum=high")
    with pytest.raises(YoloxkitError, match=r"ema.decai: unknown field \(did you mean 'decay'\?\)"):
        config(synth, tmp_path, "ema.decai=0.9")
    with pytest.raises(YoloxkitError, match="loader.train_split: the dataset has no split 'training'"):
        Trainer(config(synth, tmp_path, "loader.train_split=training"))


def test_print_config_applies_file_flags_and_overrides(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "c.yaml").write_text("model: yolox-s\nepochs: 7\noptim:\n  momentum: 0.8\n")
    with pytest.raises(SystemExit):
        main(["train", "--config", str(tmp_path / "c.yaml"), "--batch", "16", "--set", "ema.decay=0.99", "--print-config"])
    text = capsys.readouterr().out
    assert "model: yolox-s" in text and "epochs: 7" in text and "batch: 16" in text
    assert "momentum: 0.8" in text and "decay: 0.99" in text


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (no fixed port: parallel runs collide)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_match_one_with_the_same_total_batch(synth: Path, tmp_path: Path) -> None:
    """torchrun DDP on gloo, 2 processes x 2 images vs 1 process x 4 images, one epoch (3 steps).

    BatchNorm uses its running statistics (``finetune.freeze_bn``: on CPU there is no SyncBN,
    and per-process batch statistics of 2 images would differ from those of 4); the loss is
    normalised by the positives over both processes. What remains is the summation order of
    the gradient all-reduce: weights agree to 1e-5.
    """
    extra = ["finetune.freeze_bn=true", "loader.val_split=null", "log.plots=false"]
    single = train_cli(synth, tmp_path / "single", 1, *extra)
    assert single.wait(timeout=600) == 0, single.stdout.read()
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
            "-m", "yoloxkit", "train", "--data", str(synth), "--model", "yolox-nano", "--epochs", "1",
            "--batch", "4", "--out", str(tmp_path / "ddp")]  # fmt: skip
    for item in FAST + extra:
        args += ["--set", item]
    # Its own session (defensive): whatever torchrun's agent signals on shutdown stays away from
    # the pytest worker that started it.
    ddp = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=600, start_new_session=True)
    assert ddp.returncode == 0, ddp.stdout[-3000:] + ddp.stderr[-3000:]
    expected, got = raw_weights(tmp_path / "single"), raw_weights(tmp_path / "ddp")
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-5, msg=key)
    torch.manual_seed(0)  # the trainer's initialisation (seed 0): training moved the weights well beyond 1e-5
    initial = create("yolox-nano", num_classes=2).state_dict()
    assert max(float((expected[k] - initial[k]).abs().max()) for k in expected) > 1e-3
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2


def test_train_detector_fine_tunes_and_returns_the_best_model(synth: Path, tmp_path: Path) -> None:
    from yoloxkit.train import train_detector

    start = Detector.untrained("yolox-nano", num_classes=80)
    start.pretrained = True  # stands for COCO weights: fine-tune from them, keeping the 80 classes
    trained = train_detector(start, synth, out=tmp_path / "run", epochs=1, batch=4,
                             overrides=FAST[1:] + ["finetune.class_mode=append"])  # fmt: skip
    assert len(trained.class_names) == 82 and trained.contract.input_size == start.contract.input_size
    assert (tmp_path / "run" / "best.pt").exists()


def test_yaml_booleans_read_as_the_words_a_choice_expects(synth: Path, tmp_path: Path) -> None:
    assert config(synth, tmp_path, "amp=off").amp == "off"  # YAML 1.1 reads a bare `off` as false


def test_unnamed_checkpoint_with_the_dataset_class_count_keeps_its_class_rows(synth: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    own = create("yolox-nano", num_classes=2)
    torch.save({"model": own.state_dict()}, tmp_path / "own.pth")  # Megvii layout: no class names
    trainer = Trainer(config(synth, tmp_path / "run", epochs=1, weights=str(tmp_path / "own.pth")))
    assert torch.equal(trainer.model.state_dict()["head.cls_preds.0.weight"], own.state_dict()["head.cls_preds.0.weight"])
    assert not trainer.load_report.reinitialised
