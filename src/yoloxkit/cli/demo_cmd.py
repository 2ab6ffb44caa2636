"""``yoloxkit demo``: what `make demo` runs on a fresh machine, no data needed."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import typer

from ..data.sources import Source
from ..detector import Detector
from ..errors import YoloxkitError
from .models_cmd import models
from .predict_cmd import run_prediction


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Output folder."),
    model: str = typer.Option("yolox-s", "--model", "-m", help="Model to demonstrate."),
) -> None:
    """Show the model zoo, then predict on a bundled image with the official weights
    (downloaded when the internet can be reached) or, failing that, random weights."""
    typer.echo("== the model zoo ==")
    models(as_json=False)
    try:
        detector = Detector.from_pretrained(model)
    except YoloxkitError as exc:
        typer.secho(
            f"warning: official weights unavailable ({exc}).\n"
            f"warning: {model} runs with RANDOM weights: expect no detections; "
            "pass real weights with `yoloxkit predict IMAGE --weights FILE`.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        detector = Detector.untrained(model)
    typer.echo(f"== prediction on the bundled image with {detector} ==")
    with as_file(files("yoloxkit") / "assets" / "demo.jpg") as image:
        records = run_prediction(detector, Source(str(image)), out)
    for det in records[0]["detections"]:
        box = ", ".join(f"{v:.0f}" for v in det["box"])
        typer.echo(f"  {det['class_name']:<14} {det['score']:.2f}  [{box}]")
    typer.echo(f"drawn image: {out / 'images'}; JSON: {out / 'predictions.json'}")
