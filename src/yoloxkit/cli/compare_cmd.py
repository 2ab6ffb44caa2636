"""``yoloxkit compare A B``: two models (or two sets of seed runs), and whether B really beats A."""

from __future__ import annotations

from pathlib import Path

import typer

from ..evaluation import Evaluator, GroundTruth, load_ground_truth
from ..evaluation.comparison import Comparison, Side
from ..evaluation.inference import run_evaluation, run_predictions
from ..files import without_nan, write_json
from ..outputs import dataset_inputs, prepare_output_dir
from ..runs import expand_side
from .eval_cmd import BATCH, CONF, DATA, DEVICE, IOU, LEGACY, SIZE, SPLIT, check_thresholds
from .options import EXIST_OK

SIDE_HELP = (
    "checkpoint, model name, COCO results .json, a run folder, a folder of seed runs (train --seeds), "
    "or several of these joined by commas"
)


def compare(
    a: str = typer.Argument(..., help=f"Baseline: {SIDE_HELP}."),
    b: str = typer.Argument(..., help=f"Candidate: {SIDE_HELP}."),
    data: str = DATA,
    split: str = SPLIT,
    conf: float = CONF,
    iou: float = IOU,
    size: int = SIZE,
    batch: int = BATCH,
    device: str = DEVICE,
    legacy: bool = LEGACY,
    samples: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples (of seeds, then images)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for compare.json and compare.html: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = EXIST_OK,
) -> None:
    """COCO AP of A and B (means over their seeds), per-class differences, and a 95 % interval of
    AP(B) - AP(A) from a bootstrap over seeds and images, with a plain verdict."""
    check_thresholds(conf, iou, batch)
    runs = {"A": expand_side(a), "B": expand_side(b)}
    if out is not None:
        prepare_output_dir(out, [*dataset_inputs(data), *runs["A"], *runs["B"]], exist_ok)
    gt = load_ground_truth(data, split)
    sides = [evaluate_side(spec, runs[label], gt, conf, iou, size, batch, device, legacy) for label, spec in (("A", a), ("B", b))]
    comparison = Comparison.of(*sides, gt, samples, seed)
    typer.echo(comparison.text())
    if out is not None:
        from ..report.comparison import write_compare_report

        write_json(out / "compare.json", without_nan(comparison.to_dict()))
        write_compare_report(comparison, out, data, split)
        typer.echo(f"results in {out}")


def evaluate_side(
    spec: str, runs: list[str], gt: GroundTruth, conf: float, iou: float, size: int | None,
    batch: int, device: str, legacy: bool,
) -> Side:  # fmt: skip
    """Evaluate every run of one side on ``gt`` (prediction files read, checkpoints run)."""
    results, matches = [], []
    for run in runs:
        evaluator = Evaluator(gt)
        if run.endswith(".json"):
            result = run_predictions(evaluator, Path(run))
        else:
            from .common import load_detector

            detector = load_detector(run, None, size, device, legacy)
            result = run_evaluation(evaluator, detector, conf, iou, batch, progress=True)
        results.append(result)
        matches.append(evaluator.matches())
    return Side(spec, runs, results, matches)
