"""``yoloxkit audit``: likely label errors of a dataset, ranked, from out-of-fold predictions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import typer

from ..datasets import Report, load_dataset
from ..datasets.load import common_root, image_key
from ..errors import YoloxkitError
from ..evaluation.audit import KINDS, AuditSettings, audit, to_records
from ..evaluation.predictions import read_results
from ..files import write_json
from ..outputs import dataset_inputs, prepare_output_dir
from ..structures.boxes import BoxFormat, convert


def audit_command(
    data: str = typer.Option(..., "--data", "-d", help="The dataset whose labels to audit (the one data kfold split)."),
    predictions: Path = typer.Option(..., "--predictions", "-p", help="Out-of-fold predictions: OUT/oof_predictions.json of train --fold all."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for audit.json and audit.html: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Write into an output folder that already holds files."),
    confident: float = typer.Option(AuditSettings.confident, "--confident", help="Score from which a prediction is trusted (missing, class, loose)."),
    top: int = typer.Option(15, "--top", help="Suspects to print."),
) -> None:
    """Rank likely label errors (missing, spurious, wrong-class and loose boxes) with their evidence."""
    if not 0 < confident <= 1 or top < 0:
        raise YoloxkitError(f"--confident must lie in (0, 1] and --top be >= 0, got {confident}, {top}")
    prepare_output_dir(out, [*dataset_inputs(data), predictions], exist_ok)
    dataset = load_dataset(data, Report())
    entries = read_results(predictions)
    if entries and not all(isinstance(e, dict) and "file_name" in e for e in entries):
        raise YoloxkitError(f"{predictions}: entries need a 'file_name' (out-of-fold predictions of train --fold all)")
    root, labels, paths = common_root(dataset), {}, {}
    for split, image in dataset.items():
        ann = image.annotations.select(~image.annotations.iscrowd)
        xyxy = convert(ann.boxes.data, ann.boxes.format, BoxFormat.XYXY) if len(ann) else np.zeros((0, 4))
        key = image_key(root, split, image)
        labels.setdefault(key, (convert(xyxy, BoxFormat.XYXY, BoxFormat.XYWH), ann.category_ids))
        paths.setdefault(key, split.path(image))
    unknown = {e["file_name"] for e in entries} - set(labels)
    if unknown:
        raise YoloxkitError(f"{predictions}: {len(unknown)} images are not in {data}, e.g. {sorted(unknown)[0]!r}")
    suspects = audit(labels, entries, AuditSettings(confident=confident))
    records = to_records(suspects, dataset.names)
    write_json(out / "audit.json", {"settings": vars(AuditSettings(confident=confident)), "images": len(labels),
                                    "labels": sum(len(v[1]) for v in labels.values()), "suspects": records})  # fmt: skip
    from ..report.audit import write_audit_report

    write_audit_report(out, records, paths, dataset.names, str(data))
    counts = Counter(x.kind for x in suspects)
    typer.echo(f"{len(labels)} images, {sum(len(v[1]) for v in labels.values())} labels; suspects: "
               + ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS))  # fmt: skip
    for r in records[:top]:
        typer.echo(f"{r['score']:.3f}  {r['kind']:<8}  {r['class']:<16}  {r['image']}" + (f"  label {r['label_index']}" if r["label_index"] is not None else ""))
    typer.echo(f"all {len(records)} suspects in {out / 'audit.json'}; review them in {out / 'audit.html'}")
