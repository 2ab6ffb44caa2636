"""The ``yoloxkit`` command line. Each sub-command lives in its own module."""

from __future__ import annotations

import sys

import typer

from ..errors import YoloxkitError
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback."""
    try:
        app(args=argv, prog_name="yoloxkit")
    except YoloxkitError as exc:
        print(f"yoloxkit: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("yoloxkit: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
