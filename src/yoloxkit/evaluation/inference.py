"""Running a Detector over a split for evaluation, timing each stage, and the Python entry points.

Stages are timed per batch and reported per image: ``preprocess`` (letterbox, to tensor, to the
device), ``inference`` (the network, BN-folded as ``Detector.predict`` runs it) and
``postprocess`` (score threshold, NMS, boxes back to image pixels). Reading and decoding the
files is not counted (it runs in background threads). The first batch is a warm-up and is left
out when there are others. On CUDA the device is synchronised around each stage and the peak is
``torch.cuda.max_memory_allocated``; on CPU it is the process's peak resident memory.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..data.images import read_image
from ..datasets import Dataset
from ..errors import YoloxkitError
from ..structures.detections import Detections
from .classes import match_classes
from .evaluator import DEFAULT_CONF, Evaluator
from .groundtruth import GroundTruth, load_ground_truth
from .predictions import read_results
from .protocol import SplitEvaluator
from .result import EvaluationResult

if TYPE_CHECKING:  # evaluation runs any detector; it never imports the inference layer
    import torch

    from ..detector import Detector

#: The reference's test settings (README numbers): score threshold and NMS IoU.
from ..thresholds import TEST_CONF, TEST_IOU  # noqa: E402, F401 - re-exported
STAGES = ("preprocess", "inference", "postprocess")


def predict_into(
    evaluator: SplitEvaluator,
    detector: Detector,
    conf: float = TEST_CONF,
    iou: float = TEST_IOU,
    batch_size: int = 8,
    progress: bool = True,
    transform: Callable[[list[Detections]], list[Detections]] | None = None,
    strict: bool = False,
) -> dict:
    """Predict every image of the evaluator's split into it; return the speed and memory figures.

    ``evaluator`` is any evaluator of the protocol (:mod:`yoloxkit.evaluation.protocol`): the COCO
    :class:`Evaluator` or the DOTA one, for axis-aligned or rotated detectors alike.

    ``transform`` edits each batch's detections before they are counted (e.g. the trainer maps
    the classes of a model that predicts more classes than the dataset has). An unreadable image
    is reported on stderr and left out of the evaluation (its objects too), and listed under
    ``skipped`` in the returned figures; ``strict`` stops at it instead. Detections with
    non-finite boxes or scores are dropped and counted (``dropped_nonfinite``).
    """
    paths = evaluator.image_paths()
    import torch  # here: evaluating a results file needs no PyTorch

    cuda = detector.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(detector.device)
    totals, timed, dropped = dict.fromkeys(STAGES, 0.0), 0, 0
    skipped: list[tuple[int, str]] = []
    batches = [list(range(i, min(i + batch_size, len(paths)))) for i in range(0, len(paths), batch_size)]
    with tqdm(total=len(paths), unit="img", desc="eval", disable=None if progress else True) as bar:
        for n, (batch, images) in enumerate(_read_ahead(paths, batches)):
            bar.update(len(batch))
            for index, image in zip(batch, images):
                if isinstance(image, YoloxkitError):
                    if strict:
                        raise image
                    tqdm.write(f"warning: skipped (left out of the evaluation): {image}", file=sys.stderr)
                    skipped.append((index, str(image)))
            readable = [(i, image) for i, image in zip(batch, images) if not isinstance(image, YoloxkitError)]
            if not readable:
                continue
            batch, images = [i for i, _ in readable], [image for _, image in readable]
            detections, seconds = _predict_timed(detector, images, [str(paths[i]) for i in batch], conf, iou, cuda)
            cleaned = [d.finite() for d in detections]
            dropped += sum(count for _, count in cleaned)
            detections = [d for d, _ in cleaned]
            evaluator.update(evaluator.image_ids(batch), transform(detections) if transform else detections)
            if n > 0 or len(batches) == 1:  # the first batch warms up
                totals = {k: totals[k] + v for k, v in zip(STAGES, seconds)}
                timed += len(batch)
    if skipped:
        evaluator.drop_images([index for index, _ in skipped])
    speed = {f"{k}_ms": 1000 * v / max(timed, 1) for k, v in totals.items()}
    speed["total_ms"] = sum(speed.values())
    peak, kind = _peak_memory(detector.device)
    run = {"images_timed": timed, "batch": batch_size, "device": str(detector.device)}
    problems = {"skipped": [{"file": str(paths[i]), "cause": cause} for i, cause in skipped], "dropped_nonfinite": dropped}
    return speed | run | {"peak_memory_mb": peak, "memory": kind} | problems


def _read_or_error(path: Path) -> np.ndarray | YoloxkitError:
    """The decoded image, or the one-line error that says why it cannot be read."""
    try:
        return read_image(path)
    except YoloxkitError as exc:
        return exc


def _read_ahead(paths: list[Path], batches: list[list[int]]) -> Iterator[tuple[list[int], list[np.ndarray | YoloxkitError]]]:
    """Each batch with its decoded images (or their errors); the next batch is read in threads meanwhile."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        pending = [pool.submit(_read_or_error, paths[i]) for i in batches[0]] if batches else []
        for n, batch in enumerate(batches):
            images = [f.result() for f in pending]
            pending = [pool.submit(_read_or_error, paths[i]) for i in batches[n + 1]] if n + 1 < len(batches) else []
            yield batch, images


def _peak_memory(device: torch.device) -> tuple[float, str]:
    """Peak memory in MB and what it measures."""
    if device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_peak_rss"


def _predict_timed(
    detector: Detector, images: list[np.ndarray], sources: list[str], conf: float, iou: float, cuda: bool
) -> tuple[list, tuple[float, float, float]]:
    """``Detector.predict_arrays`` stage by stage, with the time of each stage."""
    import torch

    def now() -> float:
        if cuda:
            torch.cuda.synchronize(detector.device)
        return time.perf_counter()

    with torch.inference_mode():
        start = now()
        batch, ratios = detector.preprocess(images)
        batch = batch.to(detector.device)
        prepared = now()
        outputs = detector.forward(batch)
        inferred = now()
        rows = detector.postprocess(outputs, conf, iou)
        detections = [
            detector.to_detections(r.cpu(), ratio, image.shape[:2], source)
            for r, ratio, image, source in zip(rows, ratios, images, sources)
        ]
        done = now()
    return detections, (prepared - start, inferred - prepared, done - inferred)


def evaluate(
    detector: Detector,
    data: str | Path | Dataset | GroundTruth,
    split: str = "val",
    conf: float = TEST_CONF,
    iou: float = TEST_IOU,
    batch_size: int = 8,
    at_conf: float = DEFAULT_CONF,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate ``detector`` on ``split`` of ``data`` at the reference's test settings by default.

    ``conf``/``iou`` are the detector's score threshold and NMS IoU; ``at_conf`` is the operating
    confidence of the P/R/F1 figures, the confusion matrix and the worst images.
    """
    gt = data if isinstance(data, GroundTruth) else load_ground_truth(data, split)
    return run_evaluation(Evaluator(gt, at_conf), detector, conf, iou, batch_size, progress)


def run_evaluation(
    evaluator: Evaluator, detector: Detector, conf: float, iou: float, batch_size: int, progress: bool, strict: bool = False
) -> EvaluationResult:
    """Predict the evaluator's split with ``detector`` and compute everything, speed included.

    Unreadable images are left out and listed (``result.speed["skipped"]``, a warning); ``strict``
    stops at the first one instead.
    """
    classes = match_classes(detector.class_names, evaluator.class_names)
    notes = list(classes.notes)
    speed = predict_into(evaluator, detector, conf, iou, batch_size, progress, transform=None if classes.identity else classes.apply, strict=strict)
    if speed["skipped"]:
        notes.append(f"{len(speed['skipped'])} unreadable images left out of the evaluation: " + ", ".join(s["file"] for s in speed["skipped"][:5]))
    if speed["dropped_nonfinite"]:
        notes.append(f"{speed['dropped_nonfinite']} detections with non-finite boxes or scores dropped")
    result = evaluator.compute()
    result.speed = speed
    result.settings |= {
        "detector_conf": conf,
        "nms_iou": iou,
        "input_size": list(detector.contract.input_size),
        "warnings": notes,
    }
    return result


def evaluate_predictions(
    predictions: str | Path | Sequence[dict],
    data: str | Path | Dataset | GroundTruth,
    split: str = "val",
    at_conf: float = DEFAULT_CONF,
) -> EvaluationResult:
    """Evaluate COCO results (a JSON file or its entries) against ``split`` of ``data``."""
    gt = data if isinstance(data, GroundTruth) else load_ground_truth(data, split)
    return run_predictions(Evaluator(gt, at_conf), predictions)


def run_predictions(evaluator: Evaluator, predictions: str | Path | Sequence[dict]) -> EvaluationResult:
    """Add COCO results (a JSON file or its entries) to the evaluator and compute everything."""
    if isinstance(predictions, (str, Path)):
        name = str(predictions)
        evaluator.update_results(read_results(predictions), Path(predictions).name)
    else:
        name = "predictions"
        evaluator.update_results(predictions, name)
    result = evaluator.compute()
    result.settings["predictions"] = name
    return result
