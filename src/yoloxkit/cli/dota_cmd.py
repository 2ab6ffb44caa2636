"""``yoloxkit dota split|merge|task1|eval``: the DOTA pipeline around a detector (docs/rotated.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..datasets.categories import DOTA_V1_CLASSES, infer_names
from ..dota.merge import MERGE_IOU, merge_patch_predictions, record_detections
from ..dota.split import SplitConfig, split_dataset
from ..dota.task1 import read_task1, write_task1
from ..errors import YoloxkitError
from ..evaluation.dota import evaluate_task1, load_dota_ground_truth
from ..structures import BoxFormat, Detections
from ..files import without_nan, write_json
from ..outputs import check_output_file, prepare_output_dir
from .options import EXIST_OK
from .values import comma_list

app = typer.Typer(
    help="DOTA pipeline: split images into patches, merge patch predictions, write and score Task1 files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
CLASSES = typer.Option(None, "--classes", help="Text file with one class name per line (default: DOTA-v1.0 when it fits).")


@app.command("split")
def split(
    src: Path = typer.Argument(..., help="DOTA folder (images/ + labelTxt/), folder of split folders, or image folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty): images/ and annfiles/."),
    size: str = typer.Option("1024", "--size", help="Window size(s) in pixels, comma-separated."),
    gap: str = typer.Option("200", "--gap", help="Overlap(s) between windows, one per size."),
    rates: str = typer.Option("1.0", "--rates", help="Scale rates, comma-separated (multi-scale: 0.5,1.0,1.5)."),
    iof: float = typer.Option(0.7, "--iof", help="Keep an object in a patch when this fraction of it is inside."),
    img_rate: float = typer.Option(0.6, "--img-rate", help="Keep a window when this fraction of it is inside the image."),
    padding: bool = typer.Option(True, "--padding/--no-padding", help="Pad windows past the image to full size."),
    ext: str = typer.Option(".png", "--ext", help="Patch image file extension."),
) -> None:
    """Cut images (and labels) into overlapping patches exactly as MMRotate's split tool."""
    prepare_output_dir(out, [src], flag=None)
    if not 0.0 <= iof <= 1.0 or not 0.0 <= img_rate <= 1.0:
        raise YoloxkitError(f"--iof and --img-rate must lie in [0, 1], got {iof} and {img_rate}")
    config = SplitConfig(
        tuple(comma_list(size, "--size", int)), tuple(comma_list(gap, "--gap", int)), tuple(comma_list(rates, "--rates")),
        img_rate, iof, padding, ext=ext if ext.startswith(".") else f".{ext}",
    )  # fmt: skip
    patches = split_dataset(src, out, config)
    objects = sum(len(p.objects.names) for p in patches)
    cut = sum(int((p.objects.difficulty == 2).sum()) for p in patches)
    typer.echo(f"{len(patches)} patches, {objects} objects ({cut} cut by a patch edge: difficulty 2); results in {out}")


def _read_records(path: Path) -> list[dict]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise YoloxkitError(f"cannot read predictions {path}: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise YoloxkitError(f"{path}: expected the predictions.json list written by `yoloxkit predict`")
    return records


def _class_names(records: list[dict], classes: Path | None) -> list[str]:
    if classes is not None:
        try:
            return [line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise YoloxkitError(f"cannot read class list {classes}: {exc.strerror}") from None
    found = {d.get("class_name") for r in records for d in r.get("detections", [])}
    if not all(isinstance(name, str) for name in found):
        raise YoloxkitError("detections without a 'class_name': give the class list with --classes")
    return infer_names(found, DOTA_V1_CLASSES)


def _load(predictions: Path, classes: Path | None) -> tuple[list[Detections], list[str]]:
    records = _read_records(predictions)
    names = _class_names(records, classes)
    return [record_detections(record, names) for record in records], names


def detection_record(det: Detections) -> dict:
    """``Detections.to_dict()`` plus ``rbox`` and ``polygon`` per detection for oriented boxes."""
    record = det.to_dict()
    if det.boxes.format.oriented:
        rboxes = det.boxes.convert(BoxFormat.RBOX).tolist()
        polygons = det.boxes.convert(BoxFormat.QBOX).tolist()
        for entry, rbox, polygon in zip(record["detections"], rboxes, polygons):
            entry["rbox"], entry["polygon"] = rbox, polygon
    return record


@app.command("merge")
def merge(
    predictions: Path = typer.Argument(..., help="predictions.json of patch images (`yoloxkit predict` on split patches)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: predictions.json per original image, task1/."),
    iou: float = typer.Option(MERGE_IOU, "--iou", help="Per-class NMS IoU threshold on full images (reference 0.1)."),
    task1: bool = typer.Option(True, "--task1/--no-task1", help="Also write Task1_<class>.txt files into OUT/task1."),
    classes: Path = CLASSES,
    exist_ok: bool = EXIST_OK,
) -> None:
    """Shift patch detections back by their patch offsets and merge them per original image."""
    if not 0.0 <= iou <= 1.0:
        raise YoloxkitError(f"--iou must lie in [0, 1], got {iou}")
    prepare_output_dir(out, [predictions, classes], exist_ok)
    patches, names = _load(predictions, classes)
    merged = merge_patch_predictions(patches, iou)
    write_json(out / "predictions.json", [detection_record(det) for det in merged])
    if task1:
        write_task1(merged, names, out / "task1")
    total = sum(len(det) for det in merged)
    typer.echo(f"{len(patches)} patches -> {len(merged)} images, {total} detections; results in {out}")


@app.command("task1")
def task1(
    predictions: Path = typer.Argument(..., help="predictions.json of full images (merged, or `predict --slice`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the Task1_<class>.txt files."),
    zip_name: str = typer.Option(None, "--zip", help="Also zip the files into OUT/NAME for the DOTA server."),
    classes: Path = CLASSES,
    exist_ok: bool = EXIST_OK,
) -> None:
    """Write DOTA Task1 submission files (one per class, 2-decimal scores and corners)."""
    prepare_output_dir(out, [predictions, classes], exist_ok)
    results, names = _load(predictions, classes)
    paths = write_task1(results, names, out, zip_name)
    typer.echo(f"{len(paths)} Task1 files, {sum(len(det) for det in results)} detections; results in {out}")


@app.command("eval")
def evaluate(
    task1_dir: Path = typer.Argument(..., help="Folder with Task1_<class>.txt files."),
    labels: Path = typer.Option(..., "--labels", "-l", help="Original DOTA labels (labelTxt/ or a folder holding it)."),
    classes: Path = CLASSES,
    out: Path = typer.Option(None, "--out", "-o", help="Write the metrics to this JSON file."),
) -> None:
    """The official DOTA-devkit Task1 metric (VOC07 AP50) and COCO-style AP50 / AP75 / mAP."""
    check_output_file(out, [task1_dir, labels, classes], "--out")
    names = None
    if classes is not None:
        names = _class_names([], classes)
    gt = load_dota_ground_truth(labels, names)
    result = evaluate_task1(gt, read_task1(task1_dir))
    typer.echo(result.summary())
    if out is not None:
        write_json(out, without_nan(result.to_dict()))
