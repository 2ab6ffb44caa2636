"""The command line starts fast (issue 16): ``yoloxkit --help`` and the ``data`` commands never import
PyTorch or matplotlib (stats plots import matplotlib when they draw); commands load on use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yoloxkit.cli import COMMANDS, load_command

COCO128 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128"
HEAVY = ("torch", "matplotlib", "onnx", "openvino", "fastapi")


def _imported_after(code: str) -> set[str]:
    """Heavy modules imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint('HEAVY:' + ' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    return set(line[len("HEAVY:") :].split())


def _cli(*args: str) -> str:
    return f"from yoloxkit.cli import main\ntry:\n    main({list(args)!r})\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code"


def test_importing_the_cli_and_the_package_is_light():
    assert _imported_after("import yoloxkit.cli, yoloxkit") == set()
    assert _imported_after("import yoloxkit\nyoloxkit.Detector") >= {"torch"}  # loaded on first use


@pytest.mark.parametrize("args", [["--help"], ["data", "--help"], ["data", "check", "--help"], ["data", "synth", "--help"]])
def test_help_imports_nothing_heavy(args):
    assert _imported_after(_cli(*args)) == set()


def test_data_check_and_split_on_coco128_import_no_torch(tmp_path):
    assert _imported_after(_cli("data", "check", str(COCO128), "--json", str(tmp_path / "check.json"))) == set()
    assert _imported_after(_cli("data", "split", str(COCO128), "--ratios", "0.5,0.5", "--out", str(tmp_path / "split"))) == set()


def test_listed_help_lines_are_the_commands_own():
    for name, (_, _, help_line) in COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=200) == help_line, name
