"""The ``yoloxkit`` command line. Each sub-command lives in its own module."""

from __future__ import annotations

import os
import signal
import sys

# Third-party libraries print their own log lines around yoloxkit's errors (OpenCV, FFmpeg
# inside OpenCV, absl, oneDNN): keep them quiet unless the user asked for them.
for _name, _value in (("OPENCV_LOG_LEVEL", "ERROR"), ("OPENCV_FFMPEG_LOGLEVEL", "-8"), ("TF_CPP_MIN_LOG_LEVEL", "3")):
    os.environ.setdefault(_name, _value)

import typer  # noqa: E402

from ..errors import YoloxkitError  # noqa: E402
from ..files import DISK_FULL_ERRNOS  # noqa: E402
from . import data_cmd, demo_cmd, models_cmd, predict_cmd
from . import compare_cmd, eval_cmd, train_cmd
from . import benchmark_cmd, export_cmd, serve_cmd
from . import dota_cmd

app = typer.Typer(
    name="yoloxkit",
    help="YOLOX detectors: models, prediction, data tools, training, evaluation and export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo_cmd.demo)
app.command("models")(models_cmd.models)
app.command("predict")(predict_cmd.predict)
app.add_typer(data_cmd.app, name="data")
app.add_typer(dota_cmd.app, name="dota")
app.command("train")(train_cmd.train)
app.command("eval")(eval_cmd.eval_command)
app.command("compare")(compare_cmd.compare)
app.command("export")(export_cmd.export)
app.command("benchmark")(benchmark_cmd.benchmark)
app.command("serve")(serve_cmd.serve)


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
        app(args=argv, prog_name="yoloxkit")
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
