"""``yoloxkit train``: the YOLOX recipe on a dataset, from scratch or fine-tuning, resumable.

Flags are shortcuts for config fields; ``--config FILE`` reads a YAML config and ``--set key=value``
changes any field (``--print-config`` shows the result and exits). Order: the model's reference
defaults, the file, the flags, the ``--set`` overrides.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

import numpy as np

from ..config import dump_yaml
from ..errors import YoloxkitError
from ..files import write_json
from ..outputs import dataset_inputs, prepare_output_dir
from ..runs import parse_seeds, seed_folder
from ..train.config import make_train_config
from ..train.trainer import Trainer


def train(
    data: str = typer.Option(None, "--data", "-d", help="Dataset: folder, data.yaml, COCO JSON or split.yaml."),
    model: str = typer.Option(None, "--model", "-m", help="yolox-nano, -tiny, -s, -m, -l or -x."),
    weights: str = typer.Option(None, "--weights", "-w", help="Checkpoint to start from, or 'pretrained' (official COCO)."),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Epochs to train (with --resume: extend the run to this many)."),
    batch: int = typer.Option(None, "--batch", "-b", help="Images per step over all processes."),
    size: int = typer.Option(None, "--size", "-s", help="Input size (a multiple of 32)."),
    freeze: str = typer.Option(None, "--freeze", help="none, backbone, backbone+neck or stages:N."),
    unfreeze: str = typer.Option(None, "--unfreeze", help="Progressive unfreezing, e.g. 'backbone@0,none@5'."),
    classes_mode: str = typer.Option(None, "--classes-mode", help="new (dataset classes only) or append (keep the checkpoint's)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default 0.01/64 per image of the batch)."),
    workers: int = typer.Option(None, "--workers", help="Loader worker processes."),
    cache: str = typer.Option(None, "--cache", help="Image cache: none, ram or disk."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Folder of the disk cache."),
    skip_bad_images: bool = typer.Option(None, "--skip-bad-images/--stop-on-bad-images", help="Replace unreadable images (listed at the end) instead of stopping."),
    lr_mult: list[str] = typer.Option(None, "--lr-mult", help="LR multiplier of a part: backbone=0.1 (repeatable; parts backbone, neck, head)."),
    sampling: str = typer.Option(None, "--sampling", help="uniform, repeat_factor or class_aware (class imbalance)."),
    min_match: float = typer.Option(None, "--min-match", help="Refuse --weights that fit less of the model than this share (default 0.5)."),
    force_load: bool = typer.Option(False, "--force-load", help="Load --weights even below --min-match."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
    loggers: list[str] = typer.Option(None, "--logger", help="Extra metric sink: mlflow or wandb (repeatable; csv and tensorboard are on)."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (checkpoints, metrics.csv, summary.json, plots)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Start over in a run folder that already holds a run (its checkpoints and logs are replaced)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (or --weights' last.pt) exactly where it stopped."),
    config: str = typer.Option(None, "--config", "-c", help="YAML config file, or a built-in recipe: rotated-yolox-s-dota."),
    overrides: list[str] = typer.Option(None, "--set", help="Override any config field: --set optim.grad_clip=10 (repeatable)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
    fold: str = typer.Option(None, "--fold", help="With --data FOLDS (from data kfold): 'all' trains one run per fold into OUT/fold-K and writes OUT/oof_predictions.json; K trains one fold."),
    seeds: str = typer.Option(None, "--seeds", help="One run per seed into OUT/seed-N, one after the other: 0,1,2 (or 0-2). Compare them with yoloxkit compare."),
) -> None:
    """Train (or fine-tune) a YOLOX model; writes last.pt, best.pt, metrics.csv and summary.json."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if fold is not None and (resume or out is None or seeds is not None or data is None):
        raise YoloxkitError("--fold needs --data FOLDS (from data kfold) and --out, without --resume or --seeds")
    if seeds is not None and (resume or out is None):
        raise YoloxkitError("--seeds needs --out (the runs go to OUT/seed-N); resume one seed with --resume --out OUT/seed-N")
    if resume:
        run = Path(weights) if weights else out
        if run is None:
            raise YoloxkitError("--resume needs the run: --out RUN_FOLDER (or --weights RUN/last.pt)")
        changes = {"device": device} if device else {}
        trainer = Trainer.resume(run, epochs, **changes)
        if print_config:
            typer.echo(dump_yaml(trainer.config))
            return
        trainer.fit()
        return
    sets = list(overrides or [])
    sets += [f"finetune.{k}={v}" for k, v in (("freeze", freeze), ("unfreeze", unfreeze), ("class_mode", classes_mode)) if v is not None]
    sets += [f"loader.{k}={v}" for k, v in (("workers", workers), ("cache", cache), ("cache_dir", cache_dir)) if v is not None]
    if skip_bad_images is not None:
        sets.append(f"loader.skip_bad_images={str(skip_bad_images).lower()}")
    sets += [f"optim.lr_mult.{item}" for item in lr_mult or []]
    if sampling is not None:
        sets.append(f"loader.sampling={sampling}")
    if min_match is not None:
        sets.append(f"finetune.min_match={min_match}")
    if force_load:
        sets.append("finetune.force=true")
    if loggers:
        sets.append(f"log.sinks=[csv,tensorboard,{','.join(loggers)}]")
    if size is not None:
        sets.append(f"augment.input_size=[{size},{size}]")
    if lr is not None:
        sets.append(f"optim.lr={lr}")
    fields = {"data": data, "model": model, "weights": weights, "epochs": epochs, "batch": batch, "device": device, "out": out}
    if seeds is not None:
        train_seeds(parse_seeds(seeds), config, sets, fields, exist_ok, print_config)
        return
    if fold is not None:
        from ..train.folds import folds_table, select_folds, train_folds

        folders = select_folds(Path(data), fold)
        configs = [(f, make_train_config(config, sets, **(fields | {"data": str(f), "out": Path(out) / f.name}))) for f in folders]
        if print_config:
            typer.echo(dump_yaml(configs[0][1]))
            return
        prepare_output_dir(out, dataset_inputs(data), exist_ok)  # OUT gets folds.json: never the data, new unless asked
        typer.echo(folds_table(train_folds(configs, Path(out), exist_ok)))
        typer.echo(f"out-of-fold predictions: {Path(out) / 'oof_predictions.json'}")
        return
    cfg = make_train_config(config, sets, **fields)
    if print_config:
        typer.echo(dump_yaml(cfg))
        return
    Trainer(cfg, exist_ok=exist_ok).fit()


def train_seeds(seeds: list[int], config: str | None, sets: list[str], fields: dict, exist_ok: bool, print_config: bool) -> None:
    """The same recipe once per seed, into ``OUT/seed-N`` one after the other; ``OUT/seeds.json``
    and a table of each run's best metric at the end. Every config is built (and checked) first."""
    out = Path(fields["out"])
    configs = [make_train_config(config, [*sets, f"seed={seed}"], **(fields | {"out": seed_folder(out, seed)})) for seed in seeds]
    if print_config:
        typer.echo(dump_yaml(configs[0]))
        return
    prepare_output_dir(out, dataset_inputs(fields["data"]), exist_ok)  # OUT gets seeds.json: never the data, new unless asked
    runs = []
    for seed, cfg in zip(seeds, configs):
        typer.echo(f"seed {seed}: training into {cfg.out}")
        summary = Trainer(cfg, exist_ok=exist_ok).fit()
        runs.append({"seed": seed, "out": str(cfg.out), "metric": summary.get("metric"), "best_metric": summary.get("best_metric"),
                     "best_epoch": summary.get("best_epoch"), "stop_reason": summary.get("stop_reason")})  # fmt: skip
    values = np.array([r["best_metric"] for r in runs if r["best_metric"] is not None], dtype=np.float64)
    spread = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None} if len(values) else None
    write_json(out / "seeds.json", {"seeds": seeds, "runs": runs, "best_metric": spread})
    typer.echo(seeds_table(runs, spread))


def seeds_table(runs: list[dict], spread: dict | None) -> str:
    """Each seed's best metric, then mean and standard deviation over the seeds."""
    metric = next((r["metric"] for r in runs if r["metric"]), "best metric")
    lines = [f"{'seed':>5}  {metric:>14}  {'best epoch':>10}  stop"]
    for r in runs:
        value = f"{r['best_metric']:.4f}" if r["best_metric"] is not None else "-"
        lines.append(f"{r['seed']:>5}  {value:>14}  {str(r['best_epoch']):>10}  {r['stop_reason']}")
    if spread is not None:
        std = f" +- {spread['std']:.4f} (standard deviation over seeds)" if spread["std"] is not None else ""
        lines.append(f"mean {metric} {spread['mean']:.4f}{std}")
    return "\n".join(lines)
