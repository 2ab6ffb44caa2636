"""`yoloxkit demo` (what `make demo` runs): synthetic data -> training -> evaluation -> drawn predictions."""

from __future__ import annotations

import json

import pytest

from yoloxkit.cli import main


def test_demo_trains_evaluates_and_predicts_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens: the download fails fast
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--images", "20", "--epochs", "2", "--size", "64", "--workers", "0"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None)
    captured = capsys.readouterr()
    assert "official weights unavailable" in captured.err and "training from scratch" in captured.err
    assert "demo finished: yolox-nano from scratch (random initialisation) reached mAP50:95" in captured.out
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["coco"]["AP"] >= 0.0
    assert (out / "run" / "best.pt").exists() and (out / "run" / "summary.json").exists()
    records = json.loads((out / "predictions" / "predictions.json").read_text())
    assert len(records) == 4  # the validation fifth of 20 images, each drawn
    assert len(list((out / "predictions" / "images").iterdir())) == 4
