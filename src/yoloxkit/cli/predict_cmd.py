"""``yoloxkit predict``: detections for an image, a folder, a glob or a video."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import typer
from tqdm import tqdm

from ..data.coco import COCO_CATEGORY_IDS, COCO_CLASSES
from ..data.sources import Frame, Source
from ..predictor import Predictor
from ..dota.slicer import SlicedDetector
from ..errors import YoloxkitError
from ..structures import Detections
from ..visualize import draw_detections
from ..files import opencv_path, write_image, write_json, write_text
from ..outputs import prepare_output_dir
from .common import load_predictor, tta_option
from .options import DEVICE, ENSEMBLE_WEIGHTS, EXIST_OK, LEGACY, MODEL, TTA_FLAG, TTA_MERGE, TTA_SCALES, WEIGHTS_MANY


def predict(
    source: str = typer.Argument(..., help="Image file, folder, glob pattern (quote it) or video file."),
    weights: list[str] = WEIGHTS_MANY,
    model: str = MODEL,
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    conf: float = typer.Option(None, "--conf", help="Score threshold (objectness x class probability); default: the model's per-class thresholds (`yoloxkit thresholds set`), else 0.25."),
    iou: float = typer.Option(None, "--iou", help="NMS IoU threshold (default 0.45; rotated models 0.1, the reference's)."),
    batch: int = typer.Option(8, "--batch", help="Images per forward pass."),
    device: str = DEVICE,
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: new or empty (--exist-ok to reuse one); never the source's."),
    exist_ok: bool = EXIST_OK,
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unreadable image (exit 2) instead of skipping it."),
    class_agnostic: bool = typer.Option(False, "--class-agnostic", help="One NMS over all classes."),
    save_txt: bool = typer.Option(False, "--save-txt", help="Also write YOLO txt labels (with scores) into OUT/labels."),
    draw: bool = typer.Option(True, "--draw/--no-draw", help="Write images (or a video) with boxes drawn."),
    legacy: bool = LEGACY,
    slice_size: int = typer.Option(None, "--slice", help="Predict large images tile by tile (tile size in pixels), merged back."),
    slice_gap: int = typer.Option(200, "--slice-gap", help="Overlap between tiles with --slice."),
    ensemble_weights: str = ENSEMBLE_WEIGHTS,
    tta: bool = TTA_FLAG,
    tta_scales: str = TTA_SCALES,
    tta_merge: str = TTA_MERGE,
) -> None:
    """Run a detector and write predictions.json, COCO results, optional YOLO txt and drawn images.

    Unreadable images are reported, skipped and listed in summary.json (``--strict`` stops
    instead); an interrupted run (Ctrl-C, SIGTERM) still writes the results of the images done.
    """
    _check_options(conf, iou, batch)
    augmentation = tta_option(tta, tta_scales, tta_merge)
    frames = Source(source)
    prepare_output_dir(out, frames.inputs, exist_ok, image_folders=frames.folders)
    detector = load_predictor(weights, model, size, device, legacy, ensemble_weights, augmentation)
    if conf is None and detector.class_conf:
        typer.echo(f"score thresholds: the model's per-class thresholds ({len(detector.class_conf)} classes; --conf sets one for all)")
    if slice_size:
        detector = SlicedDetector(detector, slice_size, slice_gap, batch_size=batch)
    run_prediction(detector, frames, out, conf, iou, batch, class_agnostic, save_txt, draw, strict)


@dataclass
class PredictionRun:
    """What a prediction run wrote and met: records, COCO entries, skipped images, counts."""

    records: list[dict] = field(default_factory=list)
    coco_results: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    detections: int = 0
    dropped_nonfinite: int = 0
    interrupted: bool = False

    def summary(self, elapsed: float, detector: object) -> dict:
        """The JSON summary (``summary.json``)."""
        return {
            "images": len(self.records),
            "detections": self.detections,
            "dropped_nonfinite": self.dropped_nonfinite,
            "skipped": [{"file": file, "cause": cause} for file, cause in self.skipped],
            "interrupted": self.interrupted,
            "seconds": round(elapsed, 3),
            "detector": str(detector),
        }


def run_prediction(
    detector: Predictor | SlicedDetector,
    frames: Source,
    out: Path,
    conf: float | None = None,
    iou: float | None = None,
    batch: int = 8,
    class_agnostic: bool = False,
    save_txt: bool = False,
    draw: bool = True,
    strict: bool = False,
) -> list[dict]:
    """Predict on every frame of ``frames``, write all outputs into ``out``, print a summary.

    ``out`` must have been checked by :func:`yoloxkit.outputs.prepare_output_dir`. Boxes in
    ``predictions.json``, the YOLO txt files and the drawings are finite and clipped to the image;
    ``predictions_coco.json`` keeps the unclipped boxes (the reference's convention for AP).
    Returns the per-image records written to ``predictions.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    coco_ids = COCO_CATEGORY_IDS if tuple(detector.class_names) == COCO_CLASSES else None
    writer = _Writer(out, frames, save_txt, draw)
    run = PredictionRun()
    started = time.perf_counter()
    pending: list[Frame] = []

    def flush() -> None:
        results = detector.predict_arrays([f.image for f in pending], [f.name for f in pending], conf, iou, class_agnostic)
        for frame, result in zip(pending, results):
            image_id = len(run.records)
            finite, dropped = result.finite()
            shown = finite.clipped()
            record = shown.to_dict()
            record["image_id"] = image_id
            run.records.append(record)
            run.coco_results.extend(finite.to_coco(image_id, coco_ids))
            run.detections += len(finite)
            run.dropped_nonfinite += dropped
            writer.write(frame, shown)
        pending.clear()

    # One image has nothing to skip to: its error is the answer (exit 2), as with --strict.
    skipped = None if strict or len(frames.files) == 1 else run.skipped
    # disable=None: no bar when stderr is not a terminal (logs, pipes, tests).
    with tqdm(total=len(frames) or None, unit="img", desc="predict", disable=None) as bar:
        try:
            for frame in reporting_skips(frames.frames(skipped), run.skipped, bar):
                pending.append(frame)
                if len(pending) == batch:
                    flush()
                    bar.update(batch)
            if pending:
                count = len(pending)
                flush()
                bar.update(count)
        except KeyboardInterrupt:
            run.interrupted = True
        except BaseException:
            bar.leave = False  # erase the bar so that an error stays the only line on stderr
            raise
        finally:
            writer.close()
    elapsed = time.perf_counter() - started
    if run.skipped and not run.records and not run.interrupted:
        raise YoloxkitError(f"none of the {len(run.skipped)} images could be read; the first: {run.skipped[0][1]}")
    write_json(out / "predictions.json", run.records)
    write_json(out / "predictions_coco.json", run.coco_results)
    write_json(out / "summary.json", run.summary(elapsed, detector))
    if run.interrupted:
        typer.echo(f"interrupted: results of the {len(run.records)} images done are in {out}", err=True)
        raise KeyboardInterrupt
    dropped = f", {run.dropped_nonfinite} non-finite detections dropped" if run.dropped_nonfinite else ""
    skipped_text = f", {len(run.skipped)} unreadable images skipped (listed in summary.json)" if run.skipped else ""
    typer.echo(
        f"{len(run.records)} images, {run.detections} detections{dropped}{skipped_text}, "
        f"{len(run.records) / max(elapsed, 1e-9):.2f} images/s ({detector}); results in {out}"
    )
    return run.records


def reporting_skips(frames: Iterator[Frame], skipped: list[tuple[str, str]], bar: tqdm) -> Iterator[Frame]:
    """Pass frames through; print one warning line for each image skipped meanwhile."""
    reported = 0
    for frame in frames:
        while reported < len(skipped):
            tqdm.write(f"warning: skipped: {skipped[reported][1]}", file=sys.stderr)
            bar.update(1)
            reported += 1
        yield frame
    for _, cause in skipped[reported:]:
        tqdm.write(f"warning: skipped: {cause}", file=sys.stderr)
        bar.update(1)


def _check_options(conf: float | None, iou: float | None, batch: int) -> None:
    """Reject out-of-range thresholds and batch sizes with a one-line error."""
    if (conf is not None and not 0.0 <= conf <= 1.0) or (iou is not None and not 0.0 <= iou <= 1.0):
        raise YoloxkitError(f"--conf and --iou must lie in [0, 1], got --conf {conf} --iou {iou}")
    if batch < 1:
        raise YoloxkitError(f"--batch must be >= 1, got {batch}")


class _Writer:
    """Writes the per-image side outputs: drawn images or video, YOLO txt labels."""

    def __init__(self, out: Path, source: Source, save_txt: bool, draw: bool) -> None:
        self.out, self.save_txt, self.draw = out, save_txt, draw
        self.video_path = out / f"{source.video.stem}_pred.mp4" if source.video else None
        self.fps = source.fps
        self.video: cv2.VideoWriter | None = None

    def write(self, frame: Frame, result: Detections) -> None:
        """Write the outputs of one image (or video frame) under ``frame.stem``."""
        if self.save_txt:
            write_text(self.out / "labels" / f"{frame.stem}.txt", "".join(line + "\n" for line in result.to_yolo_lines(with_scores=True)))
        if not self.draw:
            return
        drawn = draw_detections(frame.image, result)
        if self.video_path is not None:
            if self.video is None:
                h, w = drawn.shape[:2]
                self.video = cv2.VideoWriter(opencv_path(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                if not self.video.isOpened():
                    raise YoloxkitError(f"cannot write video {self.video_path} (no mp4v encoder in OpenCV?)")
            self.video.write(drawn)
        else:
            write_image(self.out / "images" / f"{frame.stem}.jpg", drawn)

    def close(self) -> None:
        """Finish the video file, if one is being written."""
        if self.video is not None:
            self.video.release()
