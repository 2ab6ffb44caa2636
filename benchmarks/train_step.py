"""Training-step benchmark: yoloxkit against the reference (pixeltable-yolox) in one run.

One step = zero the gradients, forward, loss (with SimOTA assignment), backward, SGD step, on
a batch of real COCO128 images (letterboxed by yoloxkit's preprocessing) with their real labels.
Both sides start from the same weights (the reference's freshly initialised model, its state
dict loaded into yoloxkit), use SGD with the reference's three parameter groups (no weight decay
on BatchNorm weights and biases), momentum 0.9, Nesterov, lr 0.01/64 per image, and the same
assignment rule ("megvii2023", the one the reference implements).

* reference: ``model(images, targets)`` in train mode (its ``get_losses``: per-image Python loop,
  ``G x A x C`` class cost), ``torch.optim.SGD`` with its defaults;
* yoloxkit_nchw: ``yoloxkit.loss.YOLOXLoss`` (batched SimOTA, no host synchronisation), SGD with
  ``foreach=True``, the model in the default (NCHW) memory format: the step whose gradients equal
  the reference's (``tests/loss/test_train_step.py``);
* yoloxkit_cl: the same with model and batch in channels_last memory format, faster on CPU for
  the depthwise yolox-nano, slower for yolox-s, and less precise in train mode (torch's
  channels-last batch norm, see ``docs/training-loss.md``).

Reported per case: images/s (batch / median step time; the sides take turns, the order flips
every repeat, each timing is one step), ``ratio_nchw`` and ``ratio_channels_last`` = that
yoloxkit side's images/s / the reference's, ``ratio`` = the better of the two (``best_layout``
says which), the median process CPU time per step, the share of the step
spent in the assignment (``SimOTAAssigner.__call__`` vs the reference's ``get_assignments``
calls, median share), and peak memory: the largest resident-set growth during two steps,
measured for each side in a fresh subprocess (sampled every 2 ms with psutil).

    python benchmarks/train_step.py                      # both cases, ~4 min on 2 idle cores
    python benchmarks/train_step.py --cases nano-416-8 --label-images 4 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss
from yoloxkit.models import create

ROOT = Path(__file__).resolve().parents[1]
COCO128 = ROOT / ".." / "shared" / "datasets" / "coco128"
SEED = 0
VARIANT = "megvii2023"


@dataclass(frozen=True)
class Case:
    model: str  # yoloxkit name
    size: int
    batch: int

    @property
    def key(self) -> str:
        return f"{self.model.removeprefix('yolox-')}-{self.size}-{self.batch}"


CASES = {c.key: c for c in (Case("yolox-nano", 416, 8), Case("yolox-s", 640, 4))}


def load_batch(size: int, count: int, label_images: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Letterboxed COCO128 images ``[count, 3, size, size]`` and labels in the reference layout.

    Input ``i`` shows image ``i`` and carries the labels of images ``i, i + count, ...``
    (``label_images`` of them, each placed as its own letterbox would place it, at most 120
    rows): a denser scene, as mosaic batches are, for the assignment's sake.
    """
    paths = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))[: count * label_images]
    if len(paths) < count * label_images:
        sys.exit(f"need {count * label_images} images in {COCO128 / 'images' / 'train2017'}")
    images = [read_image(p) for p in paths]
    batch, _ = preprocess_batch(images[:count], PreprocessContract((size, size)))
    labels = torch.zeros(count, 120, 5)
    filled = [0] * count
    for k, (path, image) in enumerate(zip(paths, images)):
        label_file = COCO128 / "labels" / "train2017" / f"{path.stem}.txt"
        rows = np.loadtxt(label_file, ndmin=2).reshape(-1, 5) if label_file.exists() else np.zeros((0, 5))
        i, start = k % count, filled[k % count]
        rows = torch.from_numpy(rows[: 120 - start]).float()
        h, w = image.shape[:2]
        r = min(size / h, size / w)
        labels[i, start : start + len(rows), 0] = rows[:, 0]
        labels[i, start : start + len(rows), 1:] = rows[:, 1:] * torch.tensor([w * r, h * r, w * r, h * r])
        filled[i] += len(rows)
    return batch, labels


def sgd(model: nn.Module, batch: int, **options) -> torch.optim.SGD:
    """The reference trainer's optimiser: decay only on non-BN weights."""
    no_decay_bn, decay, biases = [], [], []
    for module in model.modules():
        if isinstance(getattr(module, "bias", None), nn.Parameter):
            biases.append(module.bias)
        if isinstance(module, nn.BatchNorm2d):
            no_decay_bn.append(module.weight)
        elif isinstance(getattr(module, "weight", None), nn.Parameter):
            decay.append(module.weight)
    optimizer = torch.optim.SGD(no_decay_bn, lr=0.01 / 64 * batch, momentum=0.9, nesterov=True, **options)
    optimizer.add_param_group({"params": decay, "weight_decay": 5e-4})
    optimizer.add_param_group({"params": biases})
    return optimizer


class Clock:
    """Sums the wall time of the calls made through :meth:`timed`."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


class TimedAssigner(SimOTAAssigner):
    """yoloxkit's SimOTA, its calls timed by ``clock``."""

    def __init__(self, variant: str, clock: Clock) -> None:
        super().__init__(variant)
        self.clock = clock

    def __call__(self, preds, targets):
        return self.clock.timed(super().__call__, preds, targets)


class ReferenceSide:
    """The reference's training step; its ``get_assignments`` calls are timed by ``clock``."""

    name = "reference"

    def __init__(self, case: Case, state: dict, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.model = reference_model(case)
        self.model.load_state_dict(state)
        self.model.train()
        self.clock = Clock()
        self.model.head.get_assignments = partial(self.clock.timed, self.model.head.get_assignments)
        self.images, self.labels = images, labels
        self.optimizer = sgd(self.model, case.batch)

    def step(self) -> torch.Tensor:
        """Zero grads, forward with loss, backward, SGD step; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(self.images, self.labels)["total_loss"]
        loss.backward()
        self.optimizer.step()
        return loss


class YoloxkitSide:
    """yoloxkit's training step: ``YOLOXLoss``, foreach SGD, optionally channels_last."""

    def __init__(
        self, case: Case, state: dict, images: torch.Tensor, labels: torch.Tensor, channels_last: bool
    ) -> None:
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.name = "yoloxkit_cl" if channels_last else "yoloxkit_nchw"
        self.model = create(case.model).to(memory_format=layout)
        self.model.load_state_dict(state)
        self.model.train()
        self.clock = Clock()
        self.loss = YOLOXLoss(assigner=TimedAssigner(VARIANT, self.clock))
        self.images = images.contiguous(memory_format=layout)
        self.targets = Targets.from_padded(labels)
        self.optimizer = sgd(self.model, case.batch, foreach=True)

    def step(self) -> torch.Tensor:
        """Zero grads, forward, loss, backward, SGD step; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(self.images), self.targets)["total"]
        loss.backward()
        self.optimizer.step()
        return loss


SIDES = {
    "yoloxkit_cl": partial(YoloxkitSide, channels_last=True),
    "yoloxkit_nchw": partial(YoloxkitSide, channels_last=False),
    "reference": ReferenceSide,
}


def reference_model(case: Case) -> nn.Module:
    from yolox.config import YoloxConfig

    torch.manual_seed(SEED)
    return YoloxConfig.get_named_config(case.model.replace("-", "_")).get_model()


def timed_step(side: YoloxkitSide | ReferenceSide) -> tuple[float, float, float]:
    """(wall seconds, process CPU seconds, assignment wall seconds) of one step."""
    side.clock.seconds = 0.0
    start, start_cpu = time.perf_counter(), time.process_time()
    loss = side.step()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if not torch.isfinite(loss):
        raise RuntimeError(f"{side.name}: non-finite loss {float(loss)}")
    return elapsed, cpu, side.clock.seconds


def run_case(case: Case, repeats: int, warmup: int, label_images: int) -> dict:
    images, labels = load_batch(case.size, case.batch, label_images)
    state = reference_model(case).state_dict()
    sides = {name: kind(case, state, images, labels) for name, kind in SIDES.items()}
    for _ in range(warmup):
        for side in sides.values():
            side.step()
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sides}
    for r in range(repeats):
        for name in list(sides) if r % 2 == 0 else list(sides)[::-1]:
            samples[name].append(timed_step(sides[name]))
    result = {"case": case.key, "model": case.model, "size": case.size, "batch": case.batch}
    for name, values in samples.items():
        step = statistics.median(s for s, _, _ in values)
        result[name] = {
            "step_ms": step * 1000,
            "images_per_s": case.batch / step,
            "min_step_ms": min(s for s, _, _ in values) * 1000,
            "cpu_ms": statistics.median(c for _, c, _ in values) * 1000,
            "assign_ms": statistics.median(a for _, _, a in values) * 1000,
            "assign_share": statistics.median(a / s for s, _, a in values),
            "samples_ms": [round(s * 1000, 1) for s, _, _ in values],
        }
    reference = result["reference"]["images_per_s"]
    result["ratio_channels_last"] = result["yoloxkit_cl"]["images_per_s"] / reference
    result["ratio_nchw"] = result["yoloxkit_nchw"]["images_per_s"] / reference
    result["best_layout"] = "channels_last" if result["ratio_channels_last"] >= result["ratio_nchw"] else "nchw"
    result["ratio"] = max(result["ratio_channels_last"], result["ratio_nchw"])
    result["num_gt"] = int((labels.sum(2) > 0).sum())
    return result


def measure_memory(case: Case, side_name: str, label_images: int) -> float:
    """Peak resident-set growth (MiB) of two training steps, in this (fresh) process."""
    import psutil

    images, labels = load_batch(case.size, case.batch, label_images)
    side = SIDES[side_name](case, reference_model(case).state_dict(), images, labels)
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(2):
        side.step()
    done.set()
    sampler.join()
    return (max(peak, process.memory_info().rss) - baseline) / 2**20


def memory_in_subprocess(case: Case, side_name: str, threads: int, label_images: int) -> float:
    command = [sys.executable, __file__, "--memory-probe", side_name, "--cases", case.key]
    command += ["--threads", str(threads), "--label-images", str(label_images)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    header = (
        f"{'case':<12} {'side':<14} {'step ms':>9} {'img/s':>7} {'CPU ms':>8} {'assign ms':>10} {'assign %':>9}"
        f" {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        for name in SIDES:
            side = row[name]
            memory = f"{side['peak_rss_mib']:9.0f}" if "peak_rss_mib" in side else f"{'-':>9}"
            print(
                f"{row['case']:<12} {name:<14} {side['step_ms']:9.0f} {side['images_per_s']:7.2f} "
                f"{side['cpu_ms']:8.0f} {side['assign_ms']:10.1f} {100 * side['assign_share']:8.1f}% {memory}"
            )
        print(
            f"{row['case']:<12} {'ratio':<14} {row['ratio']:>17.2f}x  (channels_last "
            f"{row['ratio_channels_last']:.2f}x, nchw {row['ratio_nchw']:.2f}x; {row['num_gt']} objects)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), help="model-size-batch")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per side (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument(
        "--label-images", type=int, default=1, help="COCO128 label files per input (denser scenes, see load_batch)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--memory-probe", choices=list(SIDES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # the reference's torch.cuda.amp use
    if args.memory_probe:
        print(measure_memory(CASES[args.cases[0]], args.memory_probe, args.label_images))
        return 0

    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "assignment": VARIANT,
        "label_images": args.label_images,
        "loadavg_start": os.getloadavg(),
    }
    print(
        f"torch {env['torch']}, {env['threads']} threads, {env['cpu_count']} CPUs, {args.repeats} alternating "
        f"repeats, SimOTA {VARIANT} on both sides, load average {env['loadavg_start'][0]:.2f}",
        flush=True,
    )
    results = []
    for key in args.cases:
        case = CASES[key]
        print(f"case {key} ...", flush=True)
        result = run_case(case, args.repeats, args.warmup, args.label_images)
        if not args.no_memory:
            for name in SIDES:
                result[name]["peak_rss_mib"] = memory_in_subprocess(case, name, args.threads, args.label_images)
        results.append(result)
    env["loadavg_end"] = os.getloadavg()
    print()
    print_table(results)
    print(
        "(median step; ratio = best yoloxkit layout images/s / reference images/s; assign = SimOTA time in the step; "
        f"load average at end {env['loadavg_end'][0]:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "results": results}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
