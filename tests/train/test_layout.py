"""The training layout chosen per machine (train/layout.py): settings used as given, the measured
choice with its margin, the cache (read, rewritten when damaged, optional when unwritable), a
measurement that leaves the model and the random streams alone, and the trainer training in the
chosen layout and keeping it for a resume."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from tests.train.test_trainer import FAST, synth  # noqa: F401 - the fixture is used by name
from yoloxkit.models import create
from yoloxkit.train.config import make_train_config
from yoloxkit.train.distributed import World
from yoloxkit.train.layout import case_key, choose_layout, measure_layouts
from yoloxkit.train.state import read_resume
from yoloxkit.train.trainer import Trainer

CPU = torch.device("cpu")
AUTO = [item for item in FAST if not item.startswith("memory_format")]


def settings(*overrides: str):
    return make_train_config(overrides=["augment.input_size=[64,64]", *overrides], data="unused", model="yolox-nano", batch=4)


def timings(cl: float, nchw: float):
    calls = []

    def measure(model, input_size, batch) -> dict[str, float]:  # noqa: ANN001
        calls.append((tuple(input_size), batch))
        return {"channels_last": cl, "nchw": nchw}

    return measure, calls


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_given_layouts_cuda_and_several_processes_are_not_measured(home: Path) -> None:
    measure, calls = timings(1.0, 0.1)
    model = create("yolox-nano", 2)
    assert choose_layout(settings("memory_format=nchw"), model, CPU, World(), measure) == "nchw"
    assert choose_layout(settings("memory_format=channels_last"), model, CPU, World(), measure) == "channels_last"
    assert choose_layout(settings(), model, torch.device("cuda"), World(), measure) == "channels_last"
    assert choose_layout(settings(), model, CPU, World(rank=0, size=2), measure) == "channels_last"
    assert calls == [] and not home.exists()


def test_auto_keeps_nchw_only_when_clearly_faster_and_caches_the_choice(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = create("yolox-nano", 2)
    slower, calls = timings(1.0, 0.97)  # within the margin: channels_last stays
    with caplog.at_level(logging.INFO, logger="yoloxkit"):
        assert choose_layout(settings("batch=16"), model, CPU, World(), slower) == "channels_last"
    assert calls == [((64, 64), 16)] and "memory layout: channels_last" in caplog.text
    cache = json.loads((home / "layout.json").read_text())
    assert cache[case_key("yolox-nano", (64, 64), 16)]["layout"] == "channels_last"
    faster, calls = timings(1.0, 0.5)
    assert choose_layout(settings("batch=16"), model, CPU, World(), faster) == "channels_last"  # cached: not measured again
    assert calls == []
    assert choose_layout(settings("batch=8"), model, CPU, World(), faster) == "nchw"  # another case is measured
    assert calls == [((64, 64), 8)] and len(json.loads((home / "layout.json").read_text())) == 2


def test_a_damaged_cache_is_measured_again_and_an_unwritable_one_only_warned(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = create("yolox-nano", 2)
    home.mkdir()
    (home / "layout.json").write_text("{not json")
    measure, calls = timings(1.0, 0.5)
    assert choose_layout(settings(), model, CPU, World(), measure) == "nchw" and len(calls) == 1
    assert json.loads((home / "layout.json").read_text())[case_key("yolox-nano", (64, 64), 4)]["layout"] == "nchw"
    (home / "layout.json").write_text('{"' + case_key("yolox-nano", (64, 64), 4) + '": {"layout": "sideways"}}')
    assert choose_layout(settings(), model, CPU, World(), measure) == "nchw" and len(calls) == 2
    if os.geteuid() != 0:  # root writes anywhere
        (home / "layout.json").unlink()
        home.chmod(0o500)
        try:
            with caplog.at_level(logging.WARNING, logger="yoloxkit"):
                assert choose_layout(settings(), model, CPU, World(), measure) == "nchw"
            assert "could not cache" in caplog.text
        finally:
            home.chmod(0o700)


def test_measuring_leaves_the_model_and_the_random_streams_untouched() -> None:
    model = create("yolox-nano", 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    seconds = measure_layouts(model, (64, 64), 8)
    assert set(seconds) == {"channels_last", "nchw"} and all(0 < s < 60 for s in seconds.values())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.usefixtures("synth")
def test_the_trainer_trains_in_the_chosen_layout_and_a_resume_keeps_it(synth: Path, tmp_path: Path, home: Path) -> None:  # noqa: F811
    config = make_train_config(overrides=AUTO, data=str(synth), model="yolox-nano", batch=4, out=tmp_path / "run", epochs=1)
    home.mkdir()  # the measurement said NCHW on this machine
    (home / "layout.json").write_text(json.dumps({case_key("yolox-nano", (64, 64), 4): {"layout": "nchw"}}))
    trainer = Trainer(config)
    assert trainer.config.memory_format == "nchw"
    conv = trainer.model.backbone.backbone.stem.conv.conv.weight
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
    trainer.fit()
    saved = read_resume(tmp_path / "run" / "last.pt").metadata["training"]["config"]
    assert saved["memory_format"] == "nchw"
    (home / "layout.json").write_text(json.dumps({case_key("yolox-nano", (64, 64), 4): {"layout": "channels_last"}}))
    assert Trainer.resume(tmp_path / "run", epochs=2).config.memory_format == "nchw"  # the run's layout, not the cache's
