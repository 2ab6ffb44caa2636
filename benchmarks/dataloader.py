"""Training data pipeline benchmark: yoloxkit's loader against the reference's, in one run.

Both sides produce the reference's training samples (mosaic + random affine + mixup + HSV +
flip, 640x640 by default) from the same data: COCO128 converted to a COCO JSON by yoloxkit's own
converter into a temporary folder (images hard-linked, never copied into the project). The
reference side is built as its ``get_data_loader`` builds it (``CocoDataset`` + ``MosaicDetection``
+ ``TrainTransform(max_labels=120)``, ``YoloBatchSampler`` over an ``InfiniteSampler``, its
``DataLoader`` with ``worker_init_reset_seed`` and ``pin_memory=True``); yoloxkit's with
``make_train_loader`` and the reference's defaults (``AugmentConfig()``). Same worker count and
batch size; OpenCV single-threaded in both, as the reference's trainer sets it.

Throughput: each repeat builds a fresh loader per side (the order alternates between repeats),
lets it deliver ``--warmup`` batches (worker start-up and the prefetch queue are not timed), then
times ``--batches`` batches. The table shows the median images/s over the repeats.

CPU time per stage: the same two pipelines run in this process, single-threaded, for
``--profile-samples`` samples with their stage functions wrapped by a timer of thread CPU time
(exclusive: a stage's time excludes the stages it calls).

    python benchmarks/dataloader.py                         # 640, 2 workers, no image cache
    python benchmarks/dataloader.py --cache ram --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from common import add_smoke, apply_smoke, machine

COCO128 = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128"
STAGES = ("decode + fit", "mosaic", "affine", "mixup", "hsv", "flip + letterbox", "labels + rest")


def convert_coco128(folder: Path):  # noqa: ANN201 (a yoloxkit Dataset)
    """COCO128's train split as COCO JSON under ``folder`` (yoloxkit's converter), read back."""
    from yoloxkit.datasets import Report, load_dataset, write_dataset

    source = load_dataset(COCO128)
    source.splits = {"train": source.splits["train"]}
    write_dataset(source, "coco", folder, Report())
    return load_dataset(folder / "annotations" / "instances_train.json")


def reference_dataset(folder: Path, size: int, cache: str):  # noqa: ANN201 (a reference MosaicDetection)
    """The reference's training dataset, as ``YoloxConfig.get_data_loader`` builds it."""
    from yolox.data import CocoDataset, MosaicDetection, TrainTransform

    base = CocoDataset(data_dir=str(folder), json_file="instances_train.json", name="train", img_size=(size, size),
                       preproc=TrainTransform(max_labels=50), cache=cache == "ram", cache_type="ram")  # fmt: skip
    return MosaicDetection(base, mosaic=True, img_size=(size, size), preproc=TrainTransform(max_labels=120, flip_prob=0.5, hsv_prob=1.0),
                           degrees=10.0, translate=0.1, mosaic_scale=(0.1, 2), mixup_scale=(0.5, 1.5), shear=2.0,
                           enable_mixup=True, mosaic_prob=1.0, mixup_prob=1.0)  # fmt: skip


def reference_batches(dataset, args: argparse.Namespace) -> Iterator:  # noqa: ANN001
    from yolox.data import DataLoader, InfiniteSampler, YoloBatchSampler, worker_init_reset_seed

    sampler = YoloBatchSampler(sampler=InfiniteSampler(len(dataset), seed=0), batch_size=args.batch, drop_last=False, mosaic=True)
    loader = DataLoader(dataset, num_workers=args.workers, pin_memory=True, batch_sampler=sampler, worker_init_fn=worker_init_reset_seed)
    for images, *_ in loader:
        yield len(images)


def yoloxkit_batches(dataset, args: argparse.Namespace) -> Iterator:  # noqa: ANN001
    from yoloxkit.augment import AugmentConfig
    from yoloxkit.loader import LoaderConfig, make_train_loader

    config = LoaderConfig(batch_size=args.batch, num_workers=args.workers, cache=args.cache, seed=0)
    loader = make_train_loader(dataset, "train", AugmentConfig(input_size=(args.size, args.size)), config)
    while True:
        for batch in loader:
            yield len(batch.indices)


def throughput(batches: Iterator, warmup: int, count: int) -> float:
    """Images per second over ``count`` batches after ``warmup`` untimed ones."""
    for _ in range(warmup):
        next(batches)
    start, images = time.perf_counter(), 0
    for _ in range(count):
        images += next(batches)
    elapsed = time.perf_counter() - start
    batches.close()  # shuts the workers down before the other side runs
    return images / elapsed


class StageClock:
    """Exclusive thread-CPU time per stage of functions wrapped with :meth:`wrap`."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._children: list[float] = []

    def wrap(self, owner: object, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.thread_time()
            self._children.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - start
                self.totals[stage] += elapsed - self._children.pop()
                if self._children:
                    self._children[-1] += elapsed

        setattr(owner, name, timed)


def reference_stages(dataset, samples: int) -> dict[str, float]:  # noqa: ANN001
    """CPU ms per sample and stage of the reference pipeline (single process)."""
    import yolox.data.data_augment as augment
    import yolox.data.datasets.mosaicdetection as mosaic
    from yolox.data import CocoDataset, MosaicDetection, TrainTransform

    clock = StageClock()
    clock.wrap(CocoDataset, "load_resized_img", "decode + fit")
    clock.wrap(mosaic, "random_affine", "affine")
    clock.wrap(MosaicDetection, "mixup", "mixup")
    clock.wrap(augment, "augment_hsv", "hsv")
    clock.wrap(augment, "_mirror", "flip + letterbox")
    clock.wrap(augment, "preproc", "flip + letterbox")
    clock.wrap(TrainTransform, "__call__", "labels + rest")
    clock.wrap(MosaicDetection, "__getitem__", "mosaic")
    random.seed(0)
    np.random.seed(0)
    for i in range(samples):
        dataset[(True, i % len(dataset))]
    return {stage: clock.totals[stage] / samples * 1e3 for stage in STAGES}


def yoloxkit_stages(dataset, args: argparse.Namespace, samples: int) -> dict[str, float]:  # noqa: ANN001
    """CPU ms per sample and stage of yoloxkit's pipeline (single process)."""
    import yoloxkit.augment.pipeline as pipeline
    import yoloxkit.loader.cache as cache
    from yoloxkit.augment import AugmentConfig
    from yoloxkit.loader import BadImageLog, TrainDataset, TrainRecords, TrainSource, build_store

    records = TrainRecords.from_split(dataset, "train", (args.size, args.size))
    source = TrainSource(records, build_store(records, args.cache, BadImageLog()))  # a cache is built before timing
    items = TrainDataset(source, AugmentConfig(input_size=(args.size, args.size)), seed=0)
    clock = StageClock()
    # yoloxkit paints the mosaic tiles and warps them by the random affine in one pass
    # (render_mosaic): that pass is counted as "affine", the tile layout as "mosaic".
    for owner, name, stage in ((cache, "decode_fitted", "decode + fit"), (pipeline, "layout_mosaic", "mosaic"),
                               (pipeline, "render_mosaic", "affine"), (pipeline, "warp_boxes", "affine"),
                               (pipeline, "mixup", "mixup"), (pipeline.TrainPipeline, "mixup", "mixup"), (pipeline, "hsv_jitter", "hsv"),
                               (pipeline, "flip_sample", "flip + letterbox"), (pipeline, "letterbox_sample", "flip + letterbox"),
                               (pipeline.TrainPipeline, "finish", "labels + rest"), (pipeline.TrainPipeline, "mosaic", "mosaic"),
                               (TrainDataset, "__getitem__", "labels + rest")):  # fmt: skip
        clock.wrap(owner, name, stage)
    for i in range(samples):
        items[(True, i % len(items), (0, 0, i))]  # (mosaic, index, entropy: seed, epoch, position)
    return {stage: clock.totals[stage] / samples * 1e3 for stage in STAGES}


def run_side(name: str, make: Callable[[], Iterator], args: argparse.Namespace) -> float:
    value = throughput(make(), args.warmup, args.batches)
    print(f"  {name:10s} {value:7.1f} images/s", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per repeat")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches before timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", choices=["none", "ram"], default="none", help="image cache, the same on both sides")
    parser.add_argument("--profile-samples", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results here")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(argv), size=160, workers=0, batch=2, batches=2, warmup=1, repeats=1, profile_samples=4)
    warnings.filterwarnings("ignore")  # pin_memory without an accelerator
    cv2.setNumThreads(0)
    from loguru import logger

    logger.disable("yolox")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours_data = convert_coco128(folder)
        theirs_data = reference_dataset(folder, args.size, args.cache)
        print(f"COCO128 ({len(theirs_data)} images) at {args.size}x{args.size}, mosaic + mixup + HSV + affine, "
              f"{args.workers} workers, batch {args.batch}, cache {args.cache}", flush=True)  # fmt: skip
        sides = {"reference": lambda: reference_batches(theirs_data, args), "yoloxkit": lambda: yoloxkit_batches(ours_data, args)}
        runs: dict[str, list[float]] = {name: [] for name in sides}
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            for name in sorted(sides, reverse=repeat % 2 == 1):
                runs[name].append(run_side(name, sides[name], args))
        stages = {"reference": reference_stages(theirs_data, args.profile_samples),
                  "yoloxkit": yoloxkit_stages(ours_data, args, args.profile_samples)}  # fmt: skip
    medians = {name: statistics.median(values) for name, values in runs.items()}
    ratio = medians["yoloxkit"] / medians["reference"]
    print(f"\nimages/s (median of {args.repeats}):  reference {medians['reference']:.1f}   yoloxkit {medians['yoloxkit']:.1f}   "
          f"ratio {ratio:.2f}x")  # fmt: skip
    print(f"\nCPU ms per sample by stage (one process, {args.profile_samples} samples):")
    print(f"  {'stage':18s} {'reference':>10s} {'yoloxkit':>10s}")
    for stage in STAGES:
        print(f"  {stage:18s} {stages['reference'][stage]:10.2f} {stages['yoloxkit'][stage]:10.2f}")
    totals = {name: sum(values.values()) for name, values in stages.items()}
    print(f"  {'total':18s} {totals['reference']:10.2f} {totals['yoloxkit']:10.2f}")
    if args.json:
        result = {
            "ratio": ratio, "images_per_s": medians, "runs": runs, "cpu_ms_per_sample": stages,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                        "torch": torch.__version__, "opencv": cv2.__version__},
            "provenance": machine(),
        }  # fmt: skip
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
