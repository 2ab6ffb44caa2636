"""``yoloxkit demo``: what `make demo` runs on a fresh machine, end to end and with no data.

synthetic dataset -> train yolox-nano for a few minutes (from the official COCO weights when
they can be downloaded, from scratch otherwise) -> evaluate the best checkpoint -> predict on
validation images with drawn boxes. Everything lands in ``--out``; the mAP it reached is printed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from ..datasets import Report
from ..datasets.load import write_dataset
from ..datasets.synth import synthesize
from ..detector import Detector
from ..errors import YoloxkitError
from ..evaluation import evaluate
from ..evaluation.report import write_metrics
from ..report.evaluation import write_eval_report
from ..outputs import next_free_dir, prepare_output_dir
from ..data.sources import Source
from ..train.config import make_train_config
from ..train.trainer import Trainer
from .predict_cmd import run_prediction

#: A short from-scratch recipe for small synthetic images: the reference's recipe with a higher
#: learning rate, short warm-up and no-augmentation phases, and no multi-scale resizing.
DEMO_SETTINGS = [
    "optim.basic_lr_per_img=0.00125",
    "optim.warmup_epochs=2",
    "augment.no_aug_epochs=4",
    "multiscale.enabled=false",
    "val.interval=5",
    "ema.ramp=200",
]


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Output folder (data, run, evaluation, predictions); when it holds an earlier demo, OUT-2, OUT-3, ... is used."),
    images: int = typer.Option(240, "--images", min=20, help="Synthetic images (a fifth for validation)."),
    classes: int = typer.Option(3, "--classes", min=1, max=32, help="Synthetic classes."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Training epochs."),
    size: int = typer.Option(224, "--size", min=64, help="Image and input size (a multiple of 32)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Images per step."),
    workers: int = typer.Option(2, "--workers", min=0, help="Loader worker processes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    pretrained: bool = typer.Option(True, "--pretrained/--scratch", help="Start from the official COCO weights when they can be downloaded."),
) -> None:
    """Train yolox-nano on a synthetic dataset, evaluate it and draw its predictions (no data needed)."""
    if size % 32:
        raise YoloxkitError(f"--size must be a multiple of 32, got {size}")
    chosen = next_free_dir(out)
    if chosen != out:
        typer.echo(f"{out} holds an earlier demo (kept as it is): this demo goes to {chosen}")
    out = prepare_output_dir(chosen)
    data = out / "data"
    typer.echo(f"== 1/4 synthetic dataset: {images} images of {classes} shape classes -> {data}")
    with tempfile.TemporaryDirectory() as scratch:
        write_dataset(synthesize(Path(scratch), images, classes, size=(size, size)), "coco", data, Report())

    weights = _official_weights() if pretrained else None
    start = "the official COCO yolox-nano weights" if weights else "scratch (random initialisation)"
    typer.echo(f"== 2/4 training yolox-nano from {start}, {epochs} epochs at {size}x{size}")
    config = make_train_config(
        overrides=DEMO_SETTINGS + [f"augment.input_size=[{size},{size}]", f"loader.workers={workers}"],
        data=str(data), model="yolox-nano", weights=weights, epochs=epochs, batch=batch, out=out / "run", device=device,
    )  # fmt: skip
    summary = Trainer(config).fit()

    best = summary["checkpoints"].get("best.pt") or summary["checkpoints"]["last.pt"]
    detector = Detector.from_checkpoint(best, device=None if device == "auto" else device)
    typer.echo(f"== 3/4 evaluating {best} on the validation split")
    result = evaluate(detector, data, "val")
    write_metrics(result, out / "eval")
    write_eval_report(result, out / "eval", best, str(data), "val")
    coco = result.coco

    typer.echo(f"== 4/4 predicting on validation images -> {out / 'predictions'}")
    run_prediction(detector, Source(str(data / "val")), out / "predictions")
    typer.echo(
        f"\ndemo finished: yolox-nano from {start} reached mAP50:95 {coco['AP']:.3f}, mAP50 {coco['AP50']:.3f} "
        f"on {result.gt.num_images} validation images after {summary['epochs_run']} epochs "
        f"({summary['train_time_s'] / 60:.1f} min of training on {summary['device']})."
    )
    typer.echo(f"run: {out / 'run'} (report.html, metrics.csv, last.pt/best.pt); evaluation: {out / 'eval' / 'report.html'}; drawn boxes: {out / 'predictions' / 'images'}")


def _official_weights() -> str | None:
    """The cached or downloaded official yolox-nano file, or None (with a note) when it cannot be had."""
    from .. import hub

    try:
        return str(hub.fetch("yolox-nano", progress=False))
    except YoloxkitError as exc:
        typer.secho(f"note: official weights unavailable ({exc}); training from scratch", fg=typer.colors.YELLOW, err=True)
        return None
