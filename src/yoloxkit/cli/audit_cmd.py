"""``yoloxkit audit``: likely label errors of a dataset, ranked, from out-of-fold predictions;
``yoloxkit audit apply``: the accepted ones applied to a copy of the dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..datasets import Report, load_dataset
from ..errors import YoloxkitError
from ..evaluation.audit import KINDS, AuditSettings, audit, dataset_labels, to_records
from ..evaluation.predictions import read_results
from ..files import write_json
from ..outputs import dataset_inputs, prepare_output_dir


HELP = "Rank likely label errors (missing, spurious, wrong-class and loose boxes) with their evidence; `audit apply` fixes a copy."
app = typer.Typer(help=HELP, invoke_without_command=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def audit_command(
    ctx: typer.Context,
    data: str = typer.Option(None, "--data", "-d", help="The dataset whose labels to audit (the one data kfold split)."),
    predictions: Path = typer.Option(None, "--predictions", "-p", help="Out-of-fold predictions: OUT/oof_predictions.json of train --fold all."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for audit.json and audit.html: new or empty (--exist-ok to reuse one)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Write into an output folder that already holds files."),
    confident: float = typer.Option(AuditSettings.confident, "--confident", help="Highest score needed to trust a prediction (missing, class, loose); lower per class when the model scores the objects it finds lower (see docs/audit.md)."),
    top: int = typer.Option(15, "--top", help="Suspects to print."),
) -> None:
    """Rank likely label errors (missing, spurious, wrong-class and loose boxes) with their evidence; `audit apply` fixes a copy."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or predictions is None or out is None:
        raise YoloxkitError("audit needs --data, --predictions and --out (or: yoloxkit audit apply AUDIT_JSON --data D --accept ... --out D_FIXED)")
    if not 0 < confident <= 1 or top < 0:
        raise YoloxkitError(f"--confident must lie in (0, 1] and --top be >= 0, got {confident}, {top}")
    prepare_output_dir(out, [*dataset_inputs(data), predictions], exist_ok)
    dataset = load_dataset(data, Report())
    entries = read_results(predictions)
    if entries and not all(isinstance(e, dict) and "file_name" in e for e in entries):
        raise YoloxkitError(f"{predictions}: entries need a 'file_name' (out-of-fold predictions of train --fold all)")
    labels, paths = dataset_labels(dataset)
    unknown = {e["file_name"] for e in entries} - set(labels)
    if unknown:
        raise YoloxkitError(f"{predictions}: {len(unknown)} images are not in {data}, e.g. {sorted(unknown)[0]!r}")
    settings = AuditSettings(confident=confident)
    suspects, thresholds = audit(labels, entries, settings)
    records = to_records(suspects, dataset.names)
    label_count = sum(len(classes) for _, classes in labels.values())
    trusted_from = {dataset.names.get(c, str(c)): round(v, 4) for c, v in thresholds.items()}
    write_json(out / "audit.json", {"settings": vars(settings), "confident_per_class": trusted_from, "images": len(labels),
                                    "labels": label_count, "suspects": records})  # fmt: skip
    from ..report.audit import write_audit_report

    write_audit_report(out, records, paths, dataset.names, str(data))
    counts = Counter(x.kind for x in suspects)
    typer.echo("predictions trusted from score " + ", ".join(f"{name} {v:.2f}" for name, v in trusted_from.items()))
    typer.echo(f"{len(labels)} images, {label_count} labels; suspects: "
               + ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS))  # fmt: skip
    for r in records[:top]:
        typer.echo(f"{r['score']:.3f}  {r['kind']:<8}  {r['class']:<16}  {r['image']}" + (f"  label {r['label_index']}" if r["label_index"] is not None else ""))
    typer.echo(f"all {len(records)} suspects in {out / 'audit.json'}; review them in {out / 'audit.html'}")


@app.command()
def apply(
    audit_json: Path = typer.Argument(..., help="audit.json of yoloxkit audit."),
    data: str = typer.Option(..., "--data", "-d", help="The audited dataset (read, never changed)."),
    accept: str = typer.Option(..., "--accept", help="Suspects to apply: ranks (1,4,7 or 1-20) or 'all'."),
    kinds: str = typer.Option(None, "--kinds", help="Only these kinds among the accepted: e.g. class,spurious."),
    min_score: float = typer.Option(0.0, "--min-score", help="Only accepted suspects scoring at least this."),
    out: Path = typer.Option(..., "--out", "-o", help="New (or empty) folder for the corrected copy, in the dataset's format."),
) -> None:
    """Apply accepted suspects to a copy: spurious labels removed, classes changed, loose boxes
    redrawn and missing objects added, as the predictions say; changes.json lists each edit."""
    import json

    from ..datasets import write_dataset
    from ..datasets.relabel import apply_suspects
    from ..runs import parse_seeds

    prepare_output_dir(out, [*dataset_inputs(data), audit_json], False, flag=None)
    try:
        suspects = json.loads(audit_json.read_text(encoding="utf-8"))["suspects"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise YoloxkitError(f"{audit_json}: not an audit.json of yoloxkit audit ({type(exc).__name__}: {exc})") from None
    if accept.strip() != "all":
        try:
            ranks = set(parse_seeds(accept))
        except YoloxkitError:
            raise YoloxkitError(f"--accept: {accept!r}: give ranks like 1,4,7 or 1-20, or 'all'") from None
        suspects = [s for s in suspects if s.get("rank") in ranks]
    wanted = {k.strip() for k in kinds.split(",")} if kinds else set(KINDS)
    if not wanted <= set(KINDS):
        raise YoloxkitError(f"--kinds: unknown {sorted(wanted - set(KINDS))}; choose from {', '.join(KINDS)}")
    accepted = [s for s in suspects if s.get("kind") in wanted and s.get("score", 0) >= min_score]
    dataset = load_dataset(data, Report())
    fixed, counts = apply_suspects(dataset, accepted)
    report = Report()
    write_dataset(fixed, dataset.format, out, report)
    write_json(out / "changes.json", {"audit": str(audit_json), "source": str(data), "applied": accepted})
    typer.echo(f"applied {len(accepted)} suspects (" + ", ".join(f"{k} {counts.get(k, 0)}" for k in KINDS)
               + f"): objects {dataset.num_objects} -> {fixed.num_objects}; corrected copy in {out} ({dataset.format}), edits in changes.json")  # fmt: skip
