"""Gradient accumulation follows the effective batch (issue 14): batch 16 x 4 accumulated steps has
batch 64's learning rate, schedule and first update.

The first update is compared on 64 images (one optimizer step for both runs) with BatchNorm on its
running statistics (``finetune.freeze_bn``: batch statistics of 16 images would differ from those
of 64) and no warm-up (its first learning rate is 0). The loss of each accumulated batch is summed
un-normalised and divided by the positives of all four, as the batch of 64 divides by its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.train.test_trainer import raw_weights
from yoloxkit.cli import main
from yoloxkit.train.config import make_train_config
from yoloxkit.train.trainer import Trainer

SETTINGS = ["augment.input_size=[64,64]", "multiscale.enabled=false", "loader.workers=0", "log.progress=false",
            "log.plots=false", "log.sinks=[csv]", "loader.val_split=null", "optim.warmup_epochs=0",
            "augment.no_aug_epochs=0", "finetune.freeze_bn=true", "ema.enabled=false"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 synthetic training images of 64 x 64 (no validation split)."""
    folder = tmp_path_factory.mktemp("accumulate")
    with pytest.raises(SystemExit) as done:
        main(["data", "synth", "--out", str(folder), "--images", "64", "--classes", "2", "--size", "64", "--val-fraction", "0"])
    assert done.value.code in (0, None)
    return folder


def _config(data: Path, out: Path, batch: int, accumulate: int):
    return make_train_config(overrides=[*SETTINGS, f"optim.accumulate={accumulate}"], data=str(data), model="yolox-nano",
                             epochs=3, batch=batch, out=out, seed=0)  # fmt: skip


def test_learning_rate_and_schedule_follow_the_effective_batch(data: Path, tmp_path: Path) -> None:
    large = Trainer(_config(data, tmp_path / "a", 64, 1))
    accumulated = Trainer(_config(data, tmp_path / "b", 16, 4))
    assert accumulated.config.effective_batch == 64 and accumulated.config.base_lr() == large.config.base_lr()
    assert (accumulated.steps_per_epoch, large.steps_per_epoch) == (1, 1)
    a, b = large.schedule(), accumulated.schedule()
    assert [a(k) for k in range(4)] == [b(k) for k in range(4)]


def test_first_update_equals_one_batch_of_64(data: Path, tmp_path: Path) -> None:
    runs = {}
    for name, batch, accumulate in (("one", 64, 1), ("accumulated", 16, 4)):
        config = make_train_config(overrides=[*SETTINGS, f"optim.accumulate={accumulate}"], data=str(data),
                                   model="yolox-nano", epochs=1, batch=batch, out=tmp_path / name, seed=0)  # fmt: skip
        Trainer(config).fit()
        runs[name] = raw_weights(tmp_path / name)
    torch.manual_seed(0)
    changed = 0
    for key, expected in runs["one"].items():
        if not expected.is_floating_point():
            continue
        torch.testing.assert_close(runs["accumulated"][key], expected, rtol=1e-4, atol=1e-6, msg=key)
        changed += 1
    assert changed > 100
