"""``yoloxkit eval``: COCO metrics identical to pycocotools, plus P/R/F1, VOC AP, confusion, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

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
from .options import DEVICE, ENSEMBLE_WEIGHTS, EXIST_OK, LEGACY, MODEL, TTA_FLAG, TTA_MERGE, TTA_SCALES, WEIGHTS_MANY
from .values import weight_names

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
    weights: list[str] = WEIGHTS_MANY,
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
    ensemble_weights: str = ENSEMBLE_WEIGHTS,
    tta: bool = TTA_FLAG,
    tta_scales: str = TTA_SCALES,
    tta_merge: str = TTA_MERGE,
) -> None:
    """Evaluate a checkpoint (--weights) or a COCO results file (--predictions) on a dataset split.

    Rotated models are scored by the DOTA-devkit Task1 rules (VOC07 AP at rotated IoU 0.5 per
    class, difficult objects ignored) plus AP75 and mAP over 0.50:0.95. With ``--tta`` or several
    ``--weights`` (an ensemble), each model alone without TTA is evaluated too, and the gain is
    printed beside its cost in time.
    """
    if (not weights) == (predictions is None):
        raise YoloxkitError(
            "give exactly one of --weights (a checkpoint to run) or --predictions (a COCO results JSON)"
        )
    check_thresholds(TEST_CONF if conf is None else conf, TEST_IOU if iou is None else iou, batch)  # before any loading
    if out is not None:
        prepare_output_dir(out, [*dataset_inputs(data), *weight_names(weights), predictions], exist_ok)
    detector = None
    if weights:  # a results file (--predictions) is evaluated without importing PyTorch
        from .common import load_predictor, tta_option

        detector = load_predictor(weights, model, size, device, legacy, ensemble_weights, tta_option(tta, tta_scales, tta_merge))
    elif tta or ensemble_weights:
        raise YoloxkitError("--tta and --ensemble-weights need --weights")
    if detector is not None and detector.rotated:
        evaluate_rotated_command(
            detector, data, split, ROTATED_CONF if conf is None else conf, ROTATED_NMS_IOU if iou is None else iou, batch, out, ",".join(weights)
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
        baselines = compare_with_baselines(
            detector, _headline(result), lambda base: _headline(run_evaluation(Evaluator(gt, at_conf), base, conf, iou, batch, progress=True, strict=strict))
        )
        result.settings["detector"] = str(detector)
        if baselines:
            result.settings["baselines"] = baselines
    else:
        result = run_predictions(evaluator, predictions)
    typer.echo(summary_text(result))
    if out is not None:
        write_outputs(result, out, plots, gallery, source=",".join(weights) if weights else str(predictions), data=data, split=split)
        if weights is not None:
            write_json(out / "predictions_coco.json", evaluator.results())
        typer.echo(f"results in {out}")


def evaluate_rotated_command(
    detector: Detector, data: str, split: str, conf: float, iou: float, batch: int, out: Path | None, source: str
) -> None:
    """The DOTA-rule evaluation of a rotated model (thresholds already checked): table on the
    terminal, metrics.json and report.html in ``out``."""
    from ..evaluation.rotated import evaluate_rotated

    def timed(candidate: Detector, angles: bool = False) -> tuple[object, float]:
        started = time.perf_counter()
        outcome = evaluate_rotated(candidate, data, split, conf, iou, batch, angles=angles)
        return outcome, 1000 * (time.perf_counter() - started)

    def headline(candidate: Detector) -> tuple[float, float, float]:
        outcome, ms = timed(candidate)
        return outcome.metrics()["mAP"], outcome.metrics()["AP50"], ms

    result, ms = timed(detector, angles=True)
    baselines = compare_with_baselines(detector, (result.metrics()["mAP"], result.metrics()["AP50"], ms), headline)
    typer.echo(result.summary())
    if out is not None:
        from ..report.evaluation import write_rotated_report

        settings = {"conf": conf, "iou": iou, "split": split} | ({"baselines": baselines} if baselines else {})
        metrics = without_nan(result.to_dict() | {"settings": settings})
        write_json(out / "metrics.json", metrics)
        write_rotated_report(metrics, out, source, data)
        typer.echo(f"results in {out}")


def compare_with_baselines(
    detector: Detector, own: tuple[float, float, float], evaluate: Callable[[Detector], tuple[float, float, float]]
) -> list[dict]:
    """For a detector with TTA or an ensemble: evaluate each model alone without TTA (``evaluate``
    gives mAP50:95, mAP50 and a time), print the gain beside the cost, return the figures.

    The time is per image for axis-aligned models (the timed stages) and the whole evaluation
    for rotated ones; the multiple compares like with like.
    """
    from ..ensemble import EnsembleDetector

    if isinstance(detector, EnsembleDetector):
        plain = [(f"model {k + 1} alone", member.with_tta(None)) for k, member in enumerate(detector.members)]
    elif detector.tta is not None:
        plain = [("without TTA", detector.with_tta(None))]
    else:
        return []
    rows = []
    for name, candidate in plain:
        ap, ap50, ms = evaluate(candidate)
        rows.append({"name": name, "detector": str(candidate), "mAP50_95": ap, "mAP50": ap50, "ms": ms})
    best = max(rows, key=lambda row: row["mAP50_95"])
    what = "ensemble" if isinstance(detector, EnsembleDetector) else "TTA"
    typer.echo(
        f"{what}: mAP50:95 {own[0] * 100:.2f} vs {best['mAP50_95'] * 100:.2f} {best['name']} "
        f"({(own[0] - best['mAP50_95']) * 100:+.2f}); mAP50 {own[1] * 100:.2f} vs {best['mAP50'] * 100:.2f}; "
        f"{own[2] / max(best['ms'], 1e-9):.2f}x the time"
    )
    return rows + [{"name": what, "detector": str(detector), "mAP50_95": own[0], "mAP50": own[1], "ms": own[2]}]


def _headline(result: EvaluationResult) -> tuple[float, float, float]:
    """mAP50:95, mAP50 and milliseconds per image of an evaluation."""
    return result.coco["AP"], result.coco["AP50"], result.speed["total_ms"]


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
