"""``yoloxkit learning-curve``: how many more labels, for which class (see yoloxkit.train.learning_curve)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from ..outputs import dataset_inputs, prepare_output_dir
from ..runs import parse_seeds
from .options import EXIST_OK


def learning_curve(
    data: str = typer.Option(..., "--data", "-d", help="Dataset with train and val splits: folder, data.yaml, COCO JSON or split.yaml."),
    fractions: str = typer.Option("0.125,0.25,0.5,1.0", "--fractions", help="Shares of the training images, comma-separated (nested subsets)."),
    seeds: str = typer.Option("0,1", "--seeds", help="Seeds: one subset order and one run per fraction each (0,1 or 0-2)."),
    target_ap: float = typer.Option(0.5, "--target-ap", help="AP50:95 to estimate the labelled objects needed for."),
    model: str = typer.Option("yolox-nano", "--model", "-m", help="Model to train."),
    weights: str = typer.Option(None, "--weights", "-w", help="Checkpoint to fine-tune from (the curve of a fine-tune), or 'pretrained'."),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Epochs per run (the same for every subset)."),
    batch: int = typer.Option(None, "--batch", "-b", help="Images per step."),
    size: int = typer.Option(None, "--size", "-s", help="Input size (a multiple of 32)."),
    config: str = typer.Option(None, "--config", "-c", help="YAML config file of the recipe."),
    overrides: list[str] = typer.Option(None, "--set", help="Override any training config field (repeatable)."),
    out: Path = typer.Option(..., "--out", "-o", help="New (or empty) folder: one run folder per fraction and seed, learning_curve.json/.csv, report.html."),
    exist_ok: bool = EXIST_OK,
) -> None:
    """Train on nested subsets, fit AP against labelled objects per class, estimate the labels each class needs."""
    from ..datasets.load import load_dataset
    from ..errors import YoloxkitError
    from ..train import make_train_config
    from ..train.learning_curve import curve_table, parse_fractions, run_learning_curve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = parse_fractions(fractions)
    seed_list = parse_seeds(seeds)
    if not 0.0 < target_ap < 1.0:
        raise YoloxkitError(f"--target-ap must lie in (0, 1), got {target_ap}")
    sets = list(overrides or []) + ([f"augment.input_size=[{size},{size}]"] if size is not None else [])
    fields = {"data": data, "model": model, "weights": weights, "epochs": epochs, "batch": batch, "out": out}
    cfg = make_train_config(config, sets, **fields)
    prepare_output_dir(out, dataset_inputs(data), exist_ok)
    record = run_learning_curve(cfg, load_dataset(data), chosen, seed_list, target_ap, Path(out), exist_ok)
    typer.echo(curve_table(record))
    typer.echo(f"results in {out} (learning_curve.json, learning_curve.csv, report.html)")
