"""``yoloxkit data convert|check|split|stats|synth``: dataset tools.

Every command names its dataset the same way (``DATA``: a folder in a detected format, a YOLO
``data.yaml``, a COCO JSON file, or a ``split.yaml`` written by ``data split``).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import typer

from ..datasets import FORMATS, Dataset, Report, load_dataset, write_dataset
from ..errors import YoloxkitError
from ..files import write_json
from ..outputs import check_output_file, dataset_inputs, prepare_output_dir
from .values import comma_list

app = typer.Typer(
    help="Dataset tools: convert between formats, check, split, plot statistics, synthesise.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DATA_HELP = "Dataset: folder (format detected), YOLO data.yaml, COCO .json, or split.yaml from 'data split'."
FROM_HELP = f"Source format, instead of detecting it ({', '.join(FORMATS)})."
SHOWN_FINDINGS = 20


def _fresh_output(out: Path, source: str | Path | None, option: str = "--out") -> None:
    """Outputs go to a new or empty folder outside the source dataset: nothing is ever edited in place."""
    prepare_output_dir(out, dataset_inputs(source), option=option, flag=None)


def _echo_findings(report: Report, limit: int = SHOWN_FINDINGS) -> None:
    for label, findings, colour in (("errors", report.errors, typer.colors.RED), ("warnings", report.warnings, typer.colors.YELLOW)):
        if not findings:
            continue
        kinds = Counter(f.kind for f in findings)
        summary = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
        typer.secho(f"{label} ({len(findings)}): {summary}", fg=colour, err=True)
        for finding in findings[:limit]:
            typer.echo(f"  {finding}", err=True)
        if len(findings) > limit:
            typer.echo(f"  ... and {len(findings) - limit} more (--json FILE lists all)", err=True)


def _split_table(dataset: Dataset) -> None:
    typer.echo(f"{'split':<12} {'images':>8} {'objects':>9}")
    for name, split in dataset.splits.items():
        typer.echo(f"{name:<12} {len(split.images):>8} {sum(len(i.annotations) for i in split.images):>9}")


def _class_table(dataset: Dataset) -> None:
    names = dataset.names
    columns = list(dataset.splits)
    counts = {name: Counter() for name in columns}
    for split in dataset.splits.values():
        for image in split.images:
            counts[split.name].update(image.annotations.category_ids.tolist())
    width = max([len(n) for n in names.values()] + [5])
    typer.echo(f"{'class':<{width}} " + " ".join(f"{c:>8}" for c in columns) + f" {'total':>8}")
    for cid, name in sorted(names.items()):
        row = [counts[c][cid] for c in columns]
        typer.echo(f"{name:<{width}} " + " ".join(f"{v:>8}" for v in row) + f" {sum(row):>8}")


@app.command()
def convert(
    src: str = typer.Argument(..., help=DATA_HELP),
    to: str = typer.Option(..., "--to", help=f"Target format: {', '.join(FORMATS)}."),
    out: Path = typer.Option(..., "--out", help="New (or empty) output folder."),
    source_format: str | None = typer.Option(None, "--from", help=FROM_HELP),
) -> None:
    """Convert a dataset to another format; images are hard-linked (or copied), never moved."""
    if to not in FORMATS:
        raise YoloxkitError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    _fresh_output(out, src)
    report = Report()
    dataset = load_dataset(src, report, source_format)
    write_dataset(dataset, to, out, report)
    written = load_dataset(out, Report(), to)
    typer.echo(f"{dataset.source} ({dataset.format}) -> {out} ({to})")
    _split_table(written)
    typer.echo(f"objects read {dataset.num_objects}, written {written.num_objects}")
    if report.counts.get("segmentations_not_kept"):
        typer.echo(f"note: {report.counts['segmentations_not_kept']} segmentation masks not converted (boxes only)")
    _echo_findings(report)


@app.command()
def check(
    data: str = typer.Argument(..., help=DATA_HELP),
    json_path: Path | None = typer.Option(None, "--json", help="Write the full report as JSON to this file."),
    fix: Path | None = typer.Option(None, "--fix", help="Write a cleaned copy to this new folder and list every change."),
    source_format: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_images: bool = typer.Option(False, "--skip-images", help="Do not decode the images (no integrity, size or leakage checks)."),
) -> None:
    """Find data bugs before training: counts, class histogram, bad boxes, ids, images, leakage."""
    from ..datasets.check import check_dataset, inspect_images

    if fix is not None:
        _fresh_output(fix, data, "--fix")
    check_output_file(json_path, dataset_inputs(data))
    report = Report(strict=False)
    dataset = load_dataset(data, report, source_format)
    states = None if skip_images else inspect_images(dataset)
    check_dataset(dataset, report, states)
    typer.echo(f"{dataset.source}: {dataset.format}, {dataset.box_format.value} boxes, {len(dataset.categories)} categories")
    _split_table(dataset)
    _class_table(dataset)
    for name, split in report.counts["splits"].items():
        typer.echo(f"{name}: {split['images_without_objects']} images without objects ({split['empty_ratio']:.1%}), tiny objects {split['tiny_share']:.1%}")
    _echo_findings(report)
    result = report.to_dict()
    if fix is not None:
        if states is None:
            raise YoloxkitError("--fix needs the image checks; drop --skip-images")
        from ..datasets.fix import fix_dataset

        cleaned, changes = fix_dataset(dataset, states)
        fix_report = Report()
        write_dataset(cleaned, dataset.format if dataset.format in FORMATS else "coco", fix, fix_report)
        typer.echo(f"cleaned copy written to {fix}: {len(changes)} changes")
        _echo_findings(fix_report)
        for change in changes[:SHOWN_FINDINGS]:
            typer.echo(f"  {change['file']}: {change['change']}")
        if len(changes) > SHOWN_FINDINGS:
            typer.echo(f"  ... and {len(changes) - SHOWN_FINDINGS} more (--json FILE lists all)")
        result["changes"] = changes
    if json_path is not None:
        write_json(json_path, result)
    status = "FAILED" if report.errors else "ok"
    typer.echo(f"check {status}: {len(report.errors)} errors, {len(report.warnings)} warnings")
    if report.errors:
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def split(
    ctx: typer.Context,
    data: str = typer.Argument(..., help=DATA_HELP),
    ratios: str = typer.Option("0.8,0.1,0.1", "--ratios", help="Split ratios, e.g. --ratios 0.8 0.1 0.1 (or 0.8,0.1,0.1)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same split)."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for split.yaml, outside the dataset."),
    names: str | None = typer.Option(None, "--names", help="Split names, comma-separated (default train,val[,test])."),
    source_format: str | None = typer.Option(None, "--from", help=FROM_HELP),
) -> None:
    """Stratified split by class presence; writes OUT/split.yaml, usable as --data."""
    from ..datasets.splitting import make_split, split_names

    try:
        values = [float(v) for part in [ratios, *ctx.args] for v in part.split(",") if v]
    except ValueError:
        raise YoloxkitError(f"--ratios takes numbers, got {' '.join([ratios, *ctx.args])}") from None
    split_list = split_names(values, names.split(",") if names else None)
    _fresh_output(out, data)
    dataset = load_dataset(data, Report(), source_format)
    make_split(dataset, values, seed, split_list, out)
    result = load_dataset(out / "split.yaml")
    typer.echo(f"wrote {out / 'split.yaml'} (seed {seed})")
    _split_table(result)
    _class_table(result)


@app.command()
def kfold(
    data: str = typer.Argument(..., help=DATA_HELP),
    folds: int = typer.Option(5, "--folds", help="Number of folds."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same folds)."),
    out: Path = typer.Option(..., "--out", help="New (or empty) folder for fold-K/split.yaml and folds.json, outside the dataset."),
    group_by: str | None = typer.Option(None, "--group-by", help="Regex on image paths; images with the same group (its first group or match) share a fold."),
    source_format: str | None = typer.Option(None, "--from", help=FROM_HELP),
) -> None:
    """Stratified K folds; OUT/fold-K/split.yaml (val = fold K, train = the rest) is usable as --data."""
    from ..datasets.kfold import make_kfold

    _fresh_output(out, data)
    dataset = load_dataset(data, Report(), source_format)
    record = make_kfold(dataset, folds, seed, out, group_by)
    grouping = f", grouped by {group_by!r} into {record['groups']} groups" if group_by else ""
    typer.echo(f"wrote {folds} folds to {out} (seed {seed}{grouping})")
    typer.echo(f"{'fold':>4}  {'images':>7}  {'objects':>8}")
    for row in record["per_fold"]:
        typer.echo(f"{row['fold']:>4}  {row['images']:>7}  {row['objects']:>8}")
    worst = max(((v, k) for k, v in record["max_share_deviation"].items() if v is not None), default=None)
    if worst is not None:
        typer.echo(f"class balance: largest deviation of a class's share from 1/{folds}: {worst[0]:.3f} ({worst[1]}); details in folds.json")


@app.command()
def stats(
    data: str = typer.Argument(..., help=DATA_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for the plots and samples: new or empty (--exist-ok to reuse one), outside the dataset."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Write into an output folder that already holds files."),
    samples: int = typer.Option(8, "--samples", help="Sample images to draw with their labels."),
    source_format: str | None = typer.Option(None, "--from", help=FROM_HELP),
) -> None:
    """Class histogram, box size/aspect and objects-per-image plots (PNG), and labelled samples."""
    from ..datasets.stats import box_statistics, write_plots, write_samples

    prepare_output_dir(out, dataset_inputs(data), exist_ok)
    dataset = load_dataset(data, Report(), source_format)
    plots = write_plots(dataset, out)
    drawn = write_samples(dataset, out, samples)
    numbers = box_statistics(dataset)
    _split_table(dataset)
    if len(numbers["size"]):
        q = [f"{v:.1f}" for v in np.percentile(numbers["size"], [5, 50, 95])]
        typer.echo(f"box size sqrt(area) px: p5 {q[0]}, median {q[1]}, p95 {q[2]}")
    typer.echo(f"wrote {len(plots)} plots and {len(drawn)} samples to {out}")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="New (or empty) output folder."),
    images: int = typer.Option(100, "--images", min=1, help="Number of images."),
    classes: int = typer.Option(4, "--classes", min=1, max=32, help="Number of classes (shape/colour pairs)."),
    first_class: int = typer.Option(0, "--first-class", min=0, max=31, help="First shape/colour pair (another set of classes: e.g. 8 for blue and yellow shapes)."),
    rotated: bool = typer.Option(False, "--rotated", help="Rotated shapes labelled with 4-corner polygons (qbox)."),
    size: int = typer.Option(320, "--size", min=32, help="Image side in pixels."),
    max_objects: int = typer.Option(6, "--max-objects", min=1, help="At most this many objects per image."),
    object_size: str = typer.Option("0.06,0.3", "--object-size", help="LOW,HIGH: object sides as fractions of the image side."),
    aspect: str = typer.Option(None, "--aspect", help="LOW,HIGH: long/short side ratio of every object, e.g. 2,4 (default: sides drawn independently)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=1.0, help="Share of the images in the val split."),
    to: str = typer.Option("coco", "--to", help=f"Output format: {', '.join(FORMATS)}."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    class_share: str = typer.Option(None, "--class-share", help="Relative frequency of each class, e.g. 1,1,1,0.1 (a rare last class); default equal."),
    min_visible: float = typer.Option(None, "--min-visible", min=0.01, max=1.0, help="Every object keeps at least this share of its pixels uncovered by later ones, e.g. 0.7 (default: objects may hide each other)."),
) -> None:
    """A synthetic dataset (shapes on textured backgrounds, exact labels) for demos and tests."""
    from ..datasets.synth import synthesize

    if to not in FORMATS:
        raise YoloxkitError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    sides = tuple(comma_list(object_size, "--object-size", count=2))
    ratios = tuple(comma_list(aspect, "--aspect", count=2)) if aspect else None
    share = comma_list(class_share, "--class-share", count=classes) if class_share else None
    _fresh_output(out, None)
    report = Report()
    with tempfile.TemporaryDirectory() as folder:
        dataset = synthesize(Path(folder), images, classes, rotated, (size, size), val_fraction, seed, max_objects, sides, ratios, first_class, share, min_visible)
        write_dataset(dataset, to, out, report)
    typer.echo(f"wrote {dataset.num_images} images, {dataset.num_objects} objects, {classes} classes to {out} ({to})")
    _split_table(dataset)
    _echo_findings(report)
