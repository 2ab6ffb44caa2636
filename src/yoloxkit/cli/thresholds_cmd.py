"""``yoloxkit thresholds set|show``: per-class operating thresholds stored with a model.

``yoloxkit eval --out DIR`` writes ``DIR/thresholds.json`` (docs/evaluation.md); ``set`` copies a
checkpoint with those thresholds in it, and ``predict`` and the Python ``Detector`` then apply
them whenever no ``--conf`` / ``conf`` is given.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import YoloxkitError
from ..outputs import check_output_file
from .options import EXIST_OK

app = typer.Typer(
    help="Per-class operating thresholds: store the ones `yoloxkit eval` chose in a checkpoint, or show them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def read_thresholds(path: Path) -> dict[str, float]:
    """``{class: conf}`` from a ``thresholds.json`` of ``yoloxkit eval`` (or a plain mapping)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise YoloxkitError(f"thresholds file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise YoloxkitError(f"{path}: not a readable JSON file ({exc})") from None
    mapping = data.get("thresholds", data) if isinstance(data, dict) else None
    if not isinstance(mapping, dict) or not mapping:
        raise YoloxkitError(f"{path}: expected the thresholds.json of `yoloxkit eval` or a {{class: conf}} mapping")
    return mapping


@app.command("set")
def set_thresholds(
    weights: Path = typer.Argument(..., help="Checkpoint to copy (any format yoloxkit loads)."),
    thresholds: Path = typer.Argument(..., help="thresholds.json written by `yoloxkit eval --out`, or a {class: conf} JSON."),
    out: Path = typer.Option(..., "--out", "-o", help="The new checkpoint (a yoloxkit checkpoint with the thresholds)."),
    exist_ok: bool = EXIST_OK,
) -> None:
    """Write a copy of WEIGHTS that carries per-class score thresholds."""
    check_output_file(out, [weights, thresholds], option="--out")
    if out.exists() and not exist_ok:
        raise YoloxkitError(f"--out {out} already exists; pass --exist-ok to replace it")
    from ..checkpoints import read_checkpoint, save_checkpoint
    from ..detector import Detector, checked_class_conf

    mapping = read_thresholds(thresholds)
    checkpoint = read_checkpoint(weights)  # read once: it may be hundreds of MB
    detector = Detector.from_checkpoint(checkpoint)
    class_conf = checked_class_conf(mapping, detector.class_names)
    training = checkpoint.metadata.get("training")
    save_checkpoint(out, detector.model, detector.model_name, detector.class_names, detector.contract.to_dict(),
                    training=training if isinstance(training, dict) else None, class_conf=class_conf)  # fmt: skip
    missing = [name for name in detector.class_names if name not in class_conf]
    typer.echo(f"wrote {out}: {len(class_conf)} per-class thresholds"
               + (f"; {len(missing)} classes without one use 0.25 ({', '.join(missing[:3])})" if missing else ""))  # fmt: skip


@app.command("show")
def show_thresholds(weights: Path = typer.Argument(..., help="Checkpoint.")) -> None:
    """Print the per-class thresholds stored in a checkpoint."""
    from ..detector import Detector

    detector = Detector.from_checkpoint(weights)
    if not detector.class_conf:
        typer.echo(f"{weights}: no per-class thresholds (predict uses --conf, default 0.25)")
        return
    for name in detector.class_names:
        value = detector.class_conf.get(name)
        typer.echo(f"{name:24s} {value:.4f}" if value is not None else f"{name:24s} 0.25 (default)")
