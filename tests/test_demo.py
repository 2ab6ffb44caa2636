"""`yoloxkit demo` (what `make demo` runs): synthetic data -> training -> evaluation -> drawn predictions.

Run at a reduced size (120 images of 128 px, 20 epochs: ~35 s) with `make demo`'s recipe, it must
learn: measured val mAP50 0.429 (2 threads) and 0.407 (1 thread), mAP50:95 0.156 / 0.204, on the
2-core Intel Xeon machine; the band allows for other CPUs and thread counts, whose summation order
gives other runs. (`make demo` itself, 240 images of 224 px for 30 epochs: README.)
"""

from __future__ import annotations

import json

import pytest

from yoloxkit.cli import main


@pytest.mark.slow
def test_demo_trains_evaluates_and_predicts_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens: the download fails fast
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--images", "120", "--epochs", "20", "--size", "128", "--workers", "0"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None)
    captured = capsys.readouterr()
    assert "official weights unavailable" in captured.err and "training from scratch" in captured.err
    assert "demo finished: yolox-nano from scratch (random initialisation) reached mAP50:95" in captured.out
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert 0.25 <= metrics["coco"]["AP50"] <= 0.75 and 0.08 <= metrics["coco"]["AP"] <= 0.5, metrics["coco"]
    assert f"mAP50:95 {metrics['coco']['AP']:.3f}, mAP50 {metrics['coco']['AP50']:.3f}" in captured.out  # the printed number is the file's
    assert (out / "run" / "best.pt").exists() and (out / "run" / "summary.json").exists()
    records = json.loads((out / "predictions" / "predictions.json").read_text())
    assert len(records) == 24  # the validation fifth of 120 images, each drawn
    assert len(list((out / "predictions" / "images").iterdir())) == 24
