"""The ``yoloxkit`` command line. Each sub-command lives in its own module, imported when it runs.

``yoloxkit --help`` and the ``data`` commands never import PyTorch (seconds on a small machine):
the commands are listed from :data:`COMMANDS` and loaded on use (tested in tests/test_startup.py).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

# Third-party libraries print their own log lines around yoloxkit's errors (OpenCV, FFmpeg
# inside OpenCV, absl, oneDNN): keep them quiet unless the user asked for them.
for _name, _value in (("OPENCV_LOG_LEVEL", "ERROR"), ("OPENCV_FFMPEG_LOGLEVEL", "-8"), ("TF_CPP_MIN_LOG_LEVEL", "3")):
    os.environ.setdefault(_name, _value)

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from ..errors import YoloxkitError  # noqa: E402
from ..files import DISK_FULL_ERRNOS  # noqa: E402

HELP = "YOLOX detectors: models, prediction, data tools, training, evaluation and export."

#: name -> (module in this package, attribute: a command function or a Typer group, one-line help).
#: The help lines are shown without importing the commands; a test keeps them equal to the commands' own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("demo_cmd", "demo", "Train yolox-nano on a synthetic dataset, evaluate it and draw its predictions (no data needed)."),
    "models": ("models_cmd", "models", "List the available models (80-class parameter counts, GFLOPs at the default input size)."),
    "predict": ("predict_cmd", "predict", "Run a detector and write predictions.json, COCO results, optional YOLO txt and drawn images."),
    "train": ("train_cmd", "train", "Train (or fine-tune) a YOLOX model; writes last.pt, best.pt, metrics.csv and summary.json."),
    "eval": ("eval_cmd", "eval_command", "Evaluate a checkpoint (--weights) or a COCO results file (--predictions) on a dataset split."),
    "compare": ("compare_cmd", "compare", "COCO AP of A and B (means over their seeds), per-class differences, and a 95 % interval of AP(B) - AP(A) from a bootstrap over seeds and images, with a plain verdict."),
    "learning-curve": ("curve_cmd", "learning_curve", "Train on nested subsets, fit AP against labelled objects per class, estimate the labels each class needs."),
    "mine": ("mine_cmd", "mine", "Rank unlabelled images by uncertainty (mirror disagreement, low margins) with diversity; write the batch with pre-annotations."),
    "audit": ("audit_cmd", "app", "Rank likely label errors (missing, spurious, wrong-class and loose boxes) with their evidence; `audit apply` fixes a copy."),
    "export": ("export_cmd", "export", "Export a detector to ONNX or OpenVINO IR and check the result against PyTorch on real images."),
    "benchmark": ("benchmark_cmd", "benchmark", "Latency (p50/p95), throughput and peak memory per backend and batch size, as a table and optionally JSON."),
    "serve": ("serve_cmd", "serve", "Serve detections over HTTP: POST /predict (an image in, JSON detections out), GET /health, GET /model."),
    "data": ("data_cmd", "app", "Dataset tools: convert between formats, check, split, plot statistics, synthesise."),
    "dota": ("dota_cmd", "app", "DOTA pipeline: split images into patches, merge patch predictions, write and score Task1 files."),
    "thresholds": ("thresholds_cmd", "app", "Per-class operating thresholds: store the ones `yoloxkit eval` chose in a checkpoint, or show them."),
}  # fmt: skip


def load_command(name: str) -> object:
    """The (click) command ``name``, importing its module now."""
    module_name, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"{__name__}.{module_name}"), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    """The top-level group: commands listed from :data:`COMMANDS`, imported only when one runs."""

    def list_commands(self, ctx: object) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: object, cmd_name: str) -> object | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_help(self, ctx: object, formatter: object) -> None:
        # The plain click layout of Typer's base class: Typer's rich one would import every
        # command to list them.
        super(TyperGroup, self).format_help(ctx, formatter)

    def format_commands(self, ctx: object, formatter: object) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (_, _, help_line) in COMMANDS.items()])


def command_group() -> LazyCommands:
    """The ``yoloxkit`` group (no command imported yet)."""
    return LazyCommands(name="yoloxkit", help=HELP, no_args_is_help=True)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends a command as Ctrl-C does: outputs of the work done are written first."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback.

    A full disk or another operating-system error that escaped a command's own checks is one
    line too; Ctrl-C and SIGTERM exit with status 130 after the command wrote what it had.
    """
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 are printed escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if "cv2" in sys.modules:  # imported before the environment variable above could act
        cv2_logging = sys.modules["cv2"].utils.logging
        cv2_logging.setLogLevel(cv2_logging.LOG_LEVEL_ERROR)
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        command_group().main(args=argv, prog_name="yoloxkit")
    except YoloxkitError as exc:
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except MemoryError:
        _fail("out of memory (try a smaller --batch or --size, or fewer images at once)", 2)
    except OSError as exc:
        where = f" while writing {exc.filename}" if exc.filename else ""
        if exc.errno in DISK_FULL_ERRNOS:
            _fail(f"no space left on device{where}", 2)
        _fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", 2)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _fail(message: str, status: int) -> None:
    print(f"yoloxkit: error: {message}" if status != 130 else f"yoloxkit: {message}", file=sys.stderr)
    raise SystemExit(status) from None
