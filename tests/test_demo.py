"""`yoloxkit demo` (what `make demo` runs) works offline and says when weights are random."""

from __future__ import annotations

import json

import pytest

from yoloxkit.cli import main


def test_demo_runs_offline_with_random_weights_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", "http://127.0.0.1:9")  # nothing listens: download fails fast
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), "--model", "yolox-nano"])
    assert exit_info.value.code in (0, None)
    captured = capsys.readouterr()
    assert "RANDOM weights" in captured.err
    assert "yolox-x" in captured.out and "99,071,455" in captured.out
    records = json.loads((tmp_path / "demo" / "predictions.json").read_text())
    assert len(records) == 1 and records[0]["width"] == 640 and records[0]["height"] == 480
    assert (tmp_path / "demo" / "images" / "demo.jpg").exists()
