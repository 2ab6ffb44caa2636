"""``yoloxkit compare A B``: two checkpoints or prediction files, and whether B really beats A."""

from __future__ import annotations

from pathlib import Path

import typer

from ..evaluation import EvaluationResult, Evaluator, GroundTruth, load_ground_truth, paired_bootstrap
from ..evaluation.bootstrap import BootstrapResult
from ..evaluation.inference import run_evaluation, run_predictions
from ..evaluation.report import class_ap_deltas
from ..files import without_nan, write_json
from ..outputs import dataset_inputs, prepare_output_dir
from .common import load_detector
from .options import EXIST_OK
from .eval_cmd import BATCH, CONF, DATA, DEVICE, IOU, LEGACY, SIZE, SPLIT, check_thresholds

SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")


def compare(
    a: str = typer.Argument(..., help="Baseline: checkpoint, model name, or COCO results .json."),
    b: str = typer.Argument(..., help="Candidate: checkpoint, model name, or COCO results .json."),
    data: str = DATA,
    split: str = SPLIT,
    conf: float = CONF,
    iou: float = IOU,
    size: int = SIZE,
    batch: int = BATCH,
    device: str = DEVICE,
    legacy: bool = LEGACY,
    samples: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples of the images."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for compare.json: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = EXIST_OK,
) -> None:
    """COCO AP of A and B, per-class deltas, and a paired bootstrap 95 % interval of AP(B) - AP(A)."""
    check_thresholds(conf, iou, batch)
    if out is not None:
        prepare_output_dir(out, [*dataset_inputs(data), a, b], exist_ok)
    gt = load_ground_truth(data, split)
    sides = {}
    for name, spec in (("A", a), ("B", b)):
        evaluator = Evaluator(gt)
        if spec.endswith(".json"):
            result = run_predictions(evaluator, Path(spec))
        else:
            detector = load_detector(spec, None, size, device, legacy)
            result = run_evaluation(evaluator, detector, conf, iou, batch, progress=True)
        sides[name] = (result, evaluator.matches())
    (ra, ma), (rb, mb) = sides["A"], sides["B"]
    boot = paired_bootstrap(ma, mb, gt, samples, seed)
    typer.echo(comparison_text(a, b, ra, rb, boot, gt))
    if out is not None:
        summary = {k: {"A": ra.coco[k], "B": rb.coco[k], "delta": rb.coco[k] - ra.coco[k]} for k in ra.coco}
        report = {"A": a, "B": b, "coco": summary, "bootstrap": boot.to_dict(), "per_class": class_ap_deltas(ra, rb)}
        write_json(out / "compare.json", without_nan(report))
        typer.echo(f"results in {out}")


def verdict(boot: BootstrapResult) -> str:
    """One sentence on what the interval says."""
    interval = f"95 % interval of AP(B) - AP(A): [{boot.low:+.4f}, {boot.high:+.4f}] over {boot.samples} resamples"
    if boot.low > 0:
        return f"B is better than A ({interval})"
    if boot.high < 0:
        return f"A is better than B ({interval})"
    return f"no significant difference ({interval} contains 0)"


def comparison_text(
    a: str, b: str, ra: EvaluationResult, rb: EvaluationResult, boot: BootstrapResult, gt: GroundTruth
) -> str:
    """The printed comparison: summary numbers, verdict and per-class AP deltas (largest first)."""
    lines = [f"A: {a}", f"B: {b}", f"{gt.num_images} images, {int((~gt.crowd).sum())} objects", ""]
    lines.append(f"{'metric':<8}{'A':>9}{'B':>9}{'B - A':>10}")
    lines += [f"{k:<8}{ra.coco[k]:>9.4f}{rb.coco[k]:>9.4f}{rb.coco[k] - ra.coco[k]:>+10.4f}" for k in SUMMARY_KEYS]
    lines += ["", verdict(boot), f"B does not beat A in {100 * boot.share_not_better:.1f} % of the resamples", ""]
    rows = [r for r in class_ap_deltas(ra, rb) if r["delta"] is not None]
    rows.sort(key=lambda r: -abs(r["delta"]))
    width = max([len("class"), *(len(r["name"]) for r in rows)])
    lines.append(f"{'class':<{width}}{'AP A':>9}{'AP B':>9}{'B - A':>10}")
    lines += [f"{r['name']:<{width}}{r['AP_A']:>9.4f}{r['AP_B']:>9.4f}{r['delta']:>+10.4f}" for r in rows]
    return "\n".join(lines)
