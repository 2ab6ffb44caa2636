"""``yoloxkit predict``: detections for an image, a folder, a glob or a video."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import typer
from tqdm import tqdm

from ..data.coco import COCO_CATEGORY_IDS, COCO_CLASSES
from ..data.sources import Frame, Source
from ..detector import Detector
from ..dota.slicer import SlicedDetector
from ..errors import YoloxkitError
from ..structures import Detections
from ..visualize import draw_detections
from .common import load_detector, write_json


def predict(
    source: str = typer.Argument(..., help="Image file, folder, glob pattern (quote it) or video file."),
    weights: str = typer.Option(None, "--weights", "-w", help="Checkpoint file, or a model name for official weights."),
    model: str = typer.Option(None, "--model", "-m", help="Model name (recognised from the weights when omitted)."),
    size: int = typer.Option(None, "--size", help="Input size (multiple of 32); default from checkpoint/model."),
    conf: float = typer.Option(0.25, "--conf", help="Score threshold (objectness x class probability)."),
    iou: float = typer.Option(None, "--iou", help="NMS IoU threshold (default 0.45; rotated models 0.1, the reference's)."),
    batch: int = typer.Option(8, "--batch", help="Images per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 or auto."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    class_agnostic: bool = typer.Option(False, "--class-agnostic", help="One NMS over all classes."),
    save_txt: bool = typer.Option(False, "--save-txt", help="Also write YOLO txt labels (with scores)."),
    draw: bool = typer.Option(True, "--draw/--no-draw", help="Write images (or a video) with boxes drawn."),
    legacy: bool = typer.Option(False, "--legacy", help="Old normalised preprocessing for pre-2021-08 weights."),
    slice_size: int = typer.Option(None, "--slice", help="Predict large images tile by tile (tile size in pixels), merged back."),
    slice_gap: int = typer.Option(200, "--slice-gap", help="Overlap between tiles with --slice."),
) -> None:
    """Run a detector and write predictions.json, COCO results, optional YOLO txt and drawn images."""
    _check_options(conf, iou, batch)
    frames = Source(source)
    detector = load_detector(weights, model, size, device, legacy)
    if slice_size:
        detector = SlicedDetector(detector, slice_size, slice_gap, batch_size=batch)
    run_prediction(detector, frames, out, conf, iou, batch, class_agnostic, save_txt, draw)


def run_prediction(
    detector: Detector,
    frames: Source,
    out: Path,
    conf: float = 0.25,
    iou: float | None = None,
    batch: int = 8,
    class_agnostic: bool = False,
    save_txt: bool = False,
    draw: bool = True,
) -> list[dict]:
    """Predict on every frame of ``frames``, write all outputs into ``out``, print a summary.

    Returns the per-image records written to ``predictions.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    coco_ids = COCO_CATEGORY_IDS if tuple(detector.class_names) == COCO_CLASSES else None
    writer = _Writer(out, frames, save_txt, draw)
    records, coco_results = [], []
    total_detections, started = 0, time.perf_counter()
    pending: list[Frame] = []

    def flush() -> None:
        nonlocal total_detections
        results = detector.predict_arrays([f.image for f in pending], [f.name for f in pending], conf, iou, class_agnostic)
        for frame, result in zip(pending, results):
            image_id = len(records)
            record = result.to_dict()
            record["image_id"] = image_id
            records.append(record)
            coco_results.extend(result.to_coco(image_id, coco_ids))
            total_detections += len(result)
            writer.write(frame, result)
        pending.clear()

    # disable=None: no bar when stderr is not a terminal (logs, pipes, tests).
    with tqdm(total=len(frames) or None, unit="img", desc="predict", disable=None) as bar:
        try:
            for frame in frames:
                pending.append(frame)
                if len(pending) == batch:
                    flush()
                    bar.update(batch)
            if pending:
                count = len(pending)
                flush()
                bar.update(count)
        except BaseException:
            bar.leave = False  # erase the bar so that an error stays the only line on stderr
            raise
        finally:
            writer.close()
    elapsed = time.perf_counter() - started
    write_json(out / "predictions.json", records)
    write_json(out / "predictions_coco.json", coco_results)
    typer.echo(
        f"{len(records)} images, {total_detections} detections, "
        f"{len(records) / max(elapsed, 1e-9):.2f} images/s ({detector}); results in {out}"
    )
    return records


def _check_options(conf: float, iou: float | None, batch: int) -> None:
    """Reject out-of-range thresholds and batch sizes with a one-line error."""
    if not 0.0 <= conf <= 1.0 or (iou is not None and not 0.0 <= iou <= 1.0):
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
            labels = self.out / "labels" / f"{frame.stem}.txt"
            labels.parent.mkdir(parents=True, exist_ok=True)
            labels.write_text("".join(line + "\n" for line in result.to_yolo_lines(with_scores=True)))
        if not self.draw:
            return
        drawn = draw_detections(frame.image, result)
        if self.video_path is not None:
            if self.video is None:
                h, w = drawn.shape[:2]
                self.video = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                if not self.video.isOpened():
                    raise YoloxkitError(f"cannot write video {self.video_path} (no mp4v encoder in OpenCV?)")
            self.video.write(drawn)
        else:
            target = self.out / "images" / f"{frame.stem}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), drawn)

    def close(self) -> None:
        """Finish the video file, if one is being written."""
        if self.video is not None:
            self.video.release()
