"""``yoloxkit eval``: COCO metrics identical to pycocotools, plus P/R/F1, VOC AP, confusion, errors."""

from __future__ import annotations

from pathlib import Path

import typer

from typing import TYPE_CHECKING

from ..errors import YoloxkitError
from ..evaluation import EvaluationResult, Evaluator, load_ground_truth
from ..evaluation.gallery import write_gallery
from ..evaluation.inference import run_evaluation, run_predictions
from ..evaluation.plots import write_plots
from ..evaluation.operating import iou_index, parse_criterion
from ..evaluation.report import summary_text, write_metrics
from ..files import without_nan, write_json
from ..outputs import dataset_inputs, prepare_output_dir
from ..thresholds import ROTATED_CONF, ROTATED_NMS_IOU, TEST_CONF, TEST_IOU
from .options import DEVICE, EXIST_OK, LEGACY, MODEL, WEIGHTS

if TYPE_CHECKING:
    from ..detector import Detector

DATA = typer.Option(..., "--data", "-d", help="Dataset: folder, data.yaml, COCO JSON or split.yaml.")
SPLIT = typer.Option("val", "--split", help="Split to evaluate (a prefix works: val -> val2017).")
CONF = typer.Option(TEST_CONF, "--conf", help="Detector score threshold (with --weights; reference test setting).")
IOU = typer.Option(TEST_IOU, "--iou", help="NMS IoU threshold (with --weights; reference test setting).")
SIZE = typer.Option(None, "--size", help="Input size (multiple of 32); default from the checkpoint.")
BATCH = typer.Option(8, "--batch", help="Images per forward pass.")
#: Worst images drawn into report.html when --gallery is not given.
REPORT_THUMBNAILS = 12


def eval_command(
    weights: str = WEIGHTS,
    predictions: Path = typer.Option(None, "--predictions", "-p", help="COCO results JSON from any detector."),
    data: str = DATA,
    split: str = SPLIT,
    conf: float = typer.Option(None, "--conf", help="Detector score threshold (default: the reference's test setting, 0.001; 0.01 for rotated models)."),
    iou: float = typer.Option(None, "--iou", help="NMS IoU threshold (default: the reference's, 0.65; rotated NMS 0.1 for rotated models)."),
    size: int = SIZE,
    model: str = MODEL,
    batch: int = BATCH,
    device: str = DEVICE,
    at_conf: float = typer.Option(
        0.25, "--at-conf", help="Operating confidence: P/R/F1, confusion matrix, worst images."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for metrics.json, per_class.csv, report.html, report.md and plots: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = EXIST_OK,
    plots: bool = typer.Option(False, "--plots/--no-plots", help="Also write the charts as PNG files (with --out; report.html has them all)."),
    worst: int = typer.Option(20, "--worst", help="Worst images to list."),
    gallery: int = typer.Option(0, "--gallery", help="Draw the N worst images into OUT/gallery (report.html inlines them; 12 there by default)."),
    legacy: bool = LEGACY,
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unreadable image (exit 2) instead of leaving it out."),
    operating: str = typer.Option("f1", "--operating", help="Per-class thresholds (thresholds.json): f1 (max F1), precision=P (lowest conf reaching P) or recall=R (highest conf reaching R)."),
    operating_iou: float = typer.Option(0.5, "--operating-iou", help="IoU of the per-class thresholds (0.50, 0.55, ... 0.95)."),
) -> None:
    """Evaluate a checkpoint (--weights) or a COCO results file (--predictions) on a dataset split.

    Rotated models are scored by the DOTA-devkit Task1 rules (VOC07 AP at rotated IoU 0.5 per
    class, difficult objects ignored) plus AP75 and mAP over 0.50:0.95.
    """
    if (weights is None) == (predictions is None):
        raise YoloxkitError(
            "give exactly one of --weights (a checkpoint to run) or --predictions (a COCO results JSON)"
        )
    check_thresholds(TEST_CONF if conf is None else conf, TEST_IOU if iou is None else iou, batch)  # before any loading
    if out is not None:
        prepare_output_dir(out, [*dataset_inputs(data), weights, predictions], exist_ok)
    detector = None
    if weights is not None:  # a results file (--predictions) is evaluated without importing PyTorch
        from .common import load_detector

        detector = load_detector(weights, model, size, device, legacy)
    if detector is not None and detector.rotated:
        evaluate_rotated_command(
            detector, data, split, ROTATED_CONF if conf is None else conf, ROTATED_NMS_IOU if iou is None else iou, batch, out, weights
        )
        return
    conf, iou = TEST_CONF if conf is None else conf, TEST_IOU if iou is None else iou
    if not 0.0 <= at_conf <= 1.0 or worst < 0 or gallery < 0:
        raise YoloxkitError(
            f"--at-conf must lie in [0, 1] and --worst/--gallery be >= 0, got {at_conf}, {worst}, {gallery}"
        )
    if gallery and out is None:
        raise YoloxkitError("--gallery needs --out")
    parse_criterion(operating), iou_index(operating_iou)  # a typo fails before the data is read
    gt = load_ground_truth(data, split)
    evaluator = Evaluator(gt, at_conf, max(worst, gallery), operating, operating_iou)
    if detector is not None:
        result = run_evaluation(evaluator, detector, conf, iou, batch, progress=True, strict=strict)
    else:
        result = run_predictions(evaluator, predictions)
    typer.echo(summary_text(result))
    if out is not None:
        write_outputs(result, out, plots, gallery, source=str(weights or predictions), data=data, split=split)
        if weights is not None:
            write_json(out / "predictions_coco.json", evaluator.results())
        typer.echo(f"results in {out}")


def evaluate_rotated_command(
    detector: Detector, data: str, split: str, conf: float, iou: float, batch: int, out: Path | None, source: str
) -> None:
    """The DOTA-rule evaluation of a rotated model (thresholds already checked): table on the
    terminal, metrics.json and report.html in ``out``."""
    from ..evaluation.rotated import evaluate_rotated

    result = evaluate_rotated(detector, data, split, conf, iou, batch, angles=True)
    typer.echo(result.summary())
    if out is not None:
        from ..report.evaluation import write_rotated_report

        metrics = without_nan(result.to_dict() | {"settings": {"conf": conf, "iou": iou, "split": split}})
        write_json(out / "metrics.json", metrics)
        write_rotated_report(metrics, out, source, data)
        typer.echo(f"results in {out}")


def check_thresholds(conf: float, iou: float, batch: int) -> None:
    """Reject out-of-range detector settings with a one-line error."""
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise YoloxkitError(f"--conf and --iou must lie in [0, 1], got --conf {conf} --iou {iou}")
    if batch < 1:
        raise YoloxkitError(f"--batch must be >= 1, got {batch}")


def write_outputs(
    result: EvaluationResult, out: Path, plots: bool, gallery: int, source: str, data: str, split: str
) -> None:
    """metrics.json, per_class.csv, report.md, report.html, the plots and the gallery."""
    from ..report.evaluation import write_eval_report

    write_metrics(result, out, plots)
    write_eval_report(result, out, source, data, split, gallery or REPORT_THUMBNAILS)
    if plots:
        write_plots(result, out)
    if gallery:
        write_gallery(result, out / "gallery", gallery)
