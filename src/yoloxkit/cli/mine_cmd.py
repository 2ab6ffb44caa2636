"""``yoloxkit mine``: the unlabelled images to label next, with pre-annotations (see yoloxkit.mining)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..errors import YoloxkitError
from .options import DEVICE, MODEL, WEIGHTS

MINE_FORMATS = ("yolo", "coco", "voc", "cvat", "labelstudio")
#: Subfolder of the ranking files: a JSON file beside the pre-annotations would be read as a COCO file.
RANKING = "mining"


def mine(
    images: str = typer.Option(..., "--images", "-i", help="Unlabelled images: a folder (read recursively) or a quoted glob."),
    weights: str = WEIGHTS,
    model: str = MODEL,
    budget: int = typer.Option(100, "--budget", min=1, help="Images to choose."),
    out: Path = typer.Option(..., "--out", "-o", help="New (or empty) folder: the chosen images with pre-annotations; mining/mine.json and mine.csv: every image ranked."),
    fmt: str = typer.Option("yolo", "--format", help=f"Pre-annotation format: {', '.join(MINE_FORMATS)}."),
    conf: float = typer.Option(0.25, "--conf", help="Score threshold of the pre-annotations."),
    diversity: float = typer.Option(0.5, "--diversity", help="Weight of the similarity penalty (0: uncertainty alone)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Images per forward pass."),
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from the checkpoint."),
    device: str = DEVICE,
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Write into an output folder that already holds files."),
) -> None:
    """Rank unlabelled images by uncertainty (mirror disagreement, low margins) with diversity; write the batch with pre-annotations."""
    from tqdm import tqdm

    from ..data.sources import Source
    from ..datasets.load import write_dataset
    from ..datasets.report import Report
    from ..files import write_csv, write_json
    from ..mining import batch_dataset, choose_batch, score_images
    from ..outputs import prepare_output_dir
    from .common import load_detector
    from .predict_cmd import reporting_skips

    if fmt not in MINE_FORMATS:
        raise YoloxkitError(f"--format must be one of {', '.join(MINE_FORMATS)}, got {fmt!r}")
    if not 0.0 <= conf <= 1.0 or diversity < 0:
        raise YoloxkitError(f"--conf must lie in [0, 1] and --diversity be >= 0, got {conf}, {diversity}")
    source = Source(images)
    if source.video is not None:
        raise YoloxkitError(f"--images: {images} is a video; give a folder or a glob of images")
    prepare_output_dir(out, source.inputs, exist_ok, image_folders=source.folders)
    detector = load_detector(weights, model, size, device)
    root = Path(os.path.commonpath([str(p.resolve().parent) for p in source.files]))
    mined, skipped, pending = [], [], []

    def flush() -> None:  # one batch through both views
        mined.extend(score_images(detector, [(Path(frame.name), frame.image) for frame in pending]))
        bar.update(len(pending))
        pending.clear()

    with tqdm(total=len(source.files), unit="img", desc="mine", disable=None) as bar:
        for frame in reporting_skips(source.frames(skipped), skipped, bar):  # unreadable images: one warning line each
            pending.append(frame)
            if len(pending) == batch:
                flush()
        if pending:
            flush()
    if not mined:
        raise YoloxkitError(f"none of the {len(skipped)} images could be read; the first: {skipped[0][1]}")
    chosen = choose_batch(mined, budget, diversity)
    rank = {index: place for place, index in enumerate(chosen, start=1)}
    write_dataset(batch_dataset(mined, chosen, detector.class_names, conf, root), fmt, out, Report())
    rows = sorted(
        ({"file": str(m.path), "uncertainty": round(m.uncertainty, 6), "disagreement": round(m.disagreement, 6), "margin": round(m.margin, 6),
          "detections": len(m.detections), "chosen": rank.get(i)} for i, m in enumerate(mined)),
        key=lambda row: (row["chosen"] is None, row["chosen"] or 0, -row["uncertainty"]),
    )  # fmt: skip
    write_json(out / RANKING / "mine.json", {"chosen": len(chosen), "images": len(mined), "budget": budget, "format": fmt, "conf": conf,
                                   "diversity": diversity, "detector": str(detector), "ranking": rows,
                                   "skipped": [{"file": file, "cause": cause} for file, cause in skipped]})  # fmt: skip
    write_csv(out / RANKING / "mine.csv", ("file", "chosen", "uncertainty", "disagreement", "margin", "detections"), rows)
    mean_all = sum(m.uncertainty for m in mined) / len(mined)
    mean_chosen = sum(mined[i].uncertainty for i in chosen) / len(chosen)
    typer.echo(f"chose {len(chosen)} of {len(mined)} images (mean uncertainty {mean_chosen:.3f} vs {mean_all:.3f} for all); "
               f"pre-annotations ({fmt}) in {out}, ranking in {out / RANKING / 'mine.json'}")  # fmt: skip
