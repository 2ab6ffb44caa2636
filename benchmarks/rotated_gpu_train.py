"""A short ``rotated-yolox-s`` run on split DOTA-like data: images/s and peak memory (issue 7).

Data: large "scenes" tiled from the real DOTA-v1.0 image of ``../shared/datasets/dota_sample``
(P1888, 712 x 557 px, 64 labelled vehicles). Each tile is the sample, flipped left-right and/or
up-down at random with its polygons moved exactly, so a 4 x 4 scene is 2848 x 2228 px with
about a thousand oriented objects. Scenes are written as DOTA folders ``train/`` and ``val/``
and cut by the DOTA split (``yoloxkit.dota.split``: 1024 windows, gap 200, as for DOTA-v1.0),
which gives 12 patches per scene.

Training: ``yoloxkit train --model rotated-yolox-s`` with the reference's rotated recipe
(batch 8 by default, mosaic/mixup/rotation/crop augmentation, 1024 input), AMP ``auto`` (float16
with a gradient scaler on CUDA), for a few epochs; then images/s, data and compute time per
step, peak memory and the final validation numbers are read from the run's own
``metrics.csv`` and ``summary.json``. On CPU (``--device cpu --model rotated-yolox-nano
--scenes 2 --size 256``) the same script is a quick smoke test.

    python benchmarks/rotated_gpu_train.py --device cuda --json benchmarks/results/rotated_gpu_train.json
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import add_smoke, apply_smoke, machine

from yoloxkit.dota.split import ImageObjects, SplitConfig, label_lines, read_objects, split_dataset
from yoloxkit.files import atomic_write

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dota_sample"


def flipped(image: np.ndarray, objects: ImageObjects, lr: bool, ud: bool) -> tuple[np.ndarray, np.ndarray]:
    """The image and its ``[N, 8]`` polygons flipped left-right / up-down (pixel-edge coordinates)."""
    height, width = image.shape[:2]
    quads = objects.quads.astype(np.float64).copy()
    if lr:
        image, quads[:, 0::2] = image[:, ::-1], width - quads[:, 0::2]
    if ud:
        image, quads[:, 1::2] = image[::-1], height - quads[:, 1::2]
    return image, quads


def write_scenes(folder: Path, count: int, grid: int, seed: int) -> int:
    """``count`` DOTA scenes of ``grid x grid`` flipped sample tiles; returns the number of objects."""
    (image_path, objects), = read_objects(SAMPLE).items()
    sample = cv2.imread(str(image_path))
    height, width = sample.shape[:2]
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "labelTxt").mkdir()
    total = 0
    for index in range(count):
        scene = np.empty((grid * height, grid * width, 3), np.uint8)
        quads, names, difficulty = [], [], []
        for row in range(grid):
            for col in range(grid):
                tile, tile_quads = flipped(sample, objects, *rng.integers(0, 2, 2).astype(bool))
                scene[row * height : (row + 1) * height, col * width : (col + 1) * width] = tile
                quads.append(tile_quads + np.tile([col * width, row * height], 4))
                names += objects.names
                difficulty.append(objects.difficulty)
        merged = ImageObjects(np.concatenate(quads).astype(np.float32), names, np.concatenate(difficulty))
        cv2.imwrite(str(folder / "images" / f"S{index:04d}.png"), scene)
        with atomic_write(folder / "labelTxt" / f"S{index:04d}.txt") as handle:
            handle.write(label_lines(merged).encode())
        total += len(names)
    return total


def step_means(run: Path) -> dict[str, float]:
    """Means over the second half of the run's step rows (past warm-up and cudnn autotuning)."""
    with open(run / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["scope"] == "step"]
    late = rows[len(rows) // 2 :]
    mean = lambda key: sum(float(r[key]) for r in late if r[key]) / max(len(late), 1)  # noqa: E731
    return {
        "images_per_s": mean("images_per_s"),
        "data_time_s": mean("data_time"),
        "compute_time_s": mean("compute_time"),
        "peak_memory_mb": max(float(r["memory_mb"] or 0) for r in rows),
        "logged_step_rows": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="rotated-yolox-s")
    parser.add_argument("--scenes", type=int, default=24, help="training scenes (12 patches each)")
    parser.add_argument("--val-scenes", type=int, default=2)
    parser.add_argument("--grid", type=int, default=4, help="sample tiles per scene side")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="8 = the reference recipe")
    parser.add_argument("--size", type=int, default=None, help="input size (default: the model's, 1024)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), device="cpu", model="rotated-yolox-nano", scenes=1, val_scenes=1, grid=1, epochs=1,
                       batch=2, size=128, workers=0)  # fmt: skip

    work = args.work or Path(tempfile.mkdtemp(prefix="rotated_gpu_"))
    started = time.perf_counter()
    objects = {
        "train": write_scenes(work / "scenes" / "train", args.scenes, args.grid, seed=0),
        "val": write_scenes(work / "scenes" / "val", args.val_scenes, args.grid, seed=1),
    }
    patches = split_dataset(work / "scenes", work / "split", SplitConfig(sizes=(1024,), gaps=(200,)))
    prepared = time.perf_counter() - started
    command = [
        sys.executable, "-m", "yoloxkit", "train", "--data", str(work / "split"), "--model", args.model,
        "--epochs", str(args.epochs), "--batch", str(args.batch), "--device", args.device,
        "--workers", str(args.workers), "--out", str(work / "run"),
        "--set", "log.progress=false", "--set", f"log.interval={1 if args.smoke else 5}", "--set", "log.plots=false",
        "--set", "optim.warmup_epochs=1", "--set", "augment.no_aug_epochs=1",
        "--set", f"val.interval={args.epochs}", "--set", f"checkpoint.every={args.epochs}",
    ]  # fmt: skip
    if args.size:
        command += ["--size", str(args.size)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    trained = time.perf_counter() - started
    summary = json.loads((work / "run" / "summary.json").read_text())
    result = {
        "model": args.model,
        "device": summary["device"],
        "amp": summary["amp"],
        "batch": args.batch,
        "epochs": args.epochs,
        "objects": objects,
        "patches": len(patches),
        "prepare_s": prepared,
        "train_wall_s": trained,
        **step_means(work / "run"),
        "final": summary["final"],
        "ratio": None,
        "ratio_is": "none: no peer trains rotated YOLOX in this run (throughput and memory only)",
        "provenance": machine(),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(result, indent=1).encode())


if __name__ == "__main__":
    main()
