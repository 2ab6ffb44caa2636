"""Training-step benchmark: yoloxkit against the reference (pixeltable-yolox) in one run.

One step = zero the gradients, forward, loss (with SimOTA assignment), backward, SGD step, on
a batch of real COCO128 images (letterboxed by yoloxkit's preprocessing) with their real labels.
Both sides start from the same weights (the reference's freshly initialised model, its state
dict loaded into yoloxkit), use SGD with the reference's three parameter groups (no weight decay
on BatchNorm weights and biases), momentum 0.9, Nesterov, lr 0.01/64 per image, and the same
assignment rule ("megvii2023", the one the reference implements).

Sides:

* ``reference``: ``model(images, targets)`` in train mode (its ``get_losses``: per-image Python
  loop, ``G x A x C`` class cost), ``torch.optim.SGD`` with its defaults. In float32, except on
  CUDA with ``--amp``, where it runs as its trainer does with ``fp16``: inputs and targets cast to
  float16, ``torch.cuda.amp.autocast`` around the forward pass, ``GradScaler``. (Its trainer's
  autocast is CUDA-only: on CPU its AMP recipe is float32.)
* ``yoloxkit_nchw``: ``yoloxkit.loss.YOLOXLoss`` (batched SimOTA, no host synchronisation), SGD
  with ``foreach=True``, the model in the default (NCHW) memory format, float32: the step whose
  gradients equal the reference's (``tests/loss/test_train_step.py``);
* ``yoloxkit_cl``: the same with model and batch in channels_last memory format (less precise
  in train mode: torch's channels-last batch norm, see ``docs/training-loss.md``);
* ``yoloxkit_default`` (CPU, float32): the layout the trainer's default ``memory_format: auto``
  picks on this machine for this case (``yoloxkit.train.layout``: measured here, in a throw-away
  cache folder), i.e. the trainer's default step; its layout is reported;
* ``yoloxkit_cl_compiled`` (only with ``--sides``): ``yoloxkit_cl`` with the network under
  ``torch.compile`` (inductor), compiled during the warm-up steps;
* ``yoloxkit_nchw_amp`` / ``yoloxkit_cl_amp`` (with ``--amp``): the same under
  ``yoloxkit.train.amp.AmpPolicy``: bfloat16 autocast on CPU, float16 autocast + ``GradScaler`` on
  CUDA (``--amp bf16`` / ``--amp fp16`` to choose); the loss stays float32.

Reported per case and side: images/s (batch / median step time; the sides take turns, the order
flips every repeat, each timing is one step, CUDA synchronised before and after), ``ratio`` =
that side's images/s / the reference's, the median process CPU time per step, the share of the
step spent in the assignment (``SimOTAAssigner.__call__`` vs the reference's ``get_assignments``
calls, median share; on CUDA timed with a synchronisation around each call), and peak memory:
on CPU the largest resident-set growth during two steps, each side in a fresh subprocess
(sampled every 2 ms with psutil); on CUDA the largest ``max_memory_allocated`` growth in a step.

Per case: ``ratio_default`` = the trainer's default step (``yoloxkit_default``) vs the reference,
``ratio_fp32`` = the faster float32 yoloxkit layout vs the float32 reference,
``ratio_amp`` = the faster AMP yoloxkit layout vs the reference (float32 on CPU: our bfloat16
step against its float32 step; its own float16 AMP step on CUDA), ``ratio`` = the like-for-like
one: ``ratio_default`` when that side ran, else ``ratio_fp32`` when the reference ran in float32
and float32 sides ran, else ``ratio_amp`` (``ratio_kind`` says which).

    python benchmarks/train_step.py                      # both CPU cases, float32
    python benchmarks/train_step.py --amp --json out.json   # + bfloat16 autocast sides
    python benchmarks/train_step.py --cases nano-416-8 --label-images 4 --sides reference yoloxkit_cl
    python benchmarks/train_step.py --device cuda --amp --cases s-640-64 --json gpu.json
"""

from __future__ import annotations

import argparse
import contextlib
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
from common import add_smoke, apply_smoke, machine
from torch import nn

from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.loss import SimOTAAssigner, Targets, YOLOXLoss
from yoloxkit.models import create
from yoloxkit.train.amp import AmpPolicy

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


CASES = {c.key: c for c in (Case("yolox-nano", 416, 8), Case("yolox-s", 640, 4), Case("yolox-s", 640, 64))}
CPU_CASES = ["nano-416-8", "s-640-4"]
#: ``--smoke``: a tiny case that runs in seconds (checks the script, measures nothing).
SMOKE_CASE = Case("yolox-nano", 128, 2)


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


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Sums the wall time of the calls made through :meth:`timed` (synchronising ``device``)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def timed(self, fn, *args, **kwargs):
        synchronize(self.device)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            synchronize(self.device)
            self.seconds += time.perf_counter() - start


class TimedAssigner(SimOTAAssigner):
    """yoloxkit's SimOTA, its calls timed by ``clock``."""

    def __init__(self, variant: str, clock: Clock) -> None:
        super().__init__(variant)
        self.clock = clock

    def __call__(self, preds, targets):
        return self.clock.timed(super().__call__, preds, targets)


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """Backward and optimiser step, through the gradient scaler when there is one."""
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


@dataclass(frozen=True)
class Setup:
    """What every side of a case starts from."""

    case: Case
    state: dict
    images: torch.Tensor
    labels: torch.Tensor
    device: torch.device
    amp: str | None  # None: float32; else the AmpPolicy mode of the AMP sides


class ReferenceSide:
    """The reference's training step, as its trainer runs it; ``get_assignments`` timed by ``clock``."""

    name = "reference"

    def __init__(self, setup: Setup) -> None:
        self.device = setup.device
        self.model = reference_model(setup.case).to(setup.device)
        self.model.load_state_dict(setup.state)
        self.model.train()
        self.clock = Clock(setup.device)
        self.model.head.get_assignments = partial(self.clock.timed, self.model.head.get_assignments)
        # Its trainer's AMP: torch.cuda.amp (CUDA only), inputs and targets cast to float16.
        self.amp = setup.amp is not None and setup.device.type == "cuda"
        dtype = torch.float16 if self.amp else torch.float32
        self.precision = "fp16 autocast + GradScaler (its trainer)" if self.amp else "fp32"
        self.images = setup.images.to(setup.device, dtype)
        self.labels = setup.labels.to(setup.device, dtype)
        self.optimizer = sgd(self.model, setup.case.batch)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None

    def step(self) -> torch.Tensor:
        """Zero grads, forward with loss, backward, SGD step; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", enabled=self.amp):
            loss = self.model(self.images, self.labels)["total_loss"]
        backward_and_step(loss, self.optimizer, self.scaler)
        return loss


class YoloxkitSide:
    """yoloxkit's training step: ``YOLOXLoss``, foreach SGD, a memory format, an AMP policy."""

    def __init__(self, setup: Setup, channels_last: bool | None, amp: bool, compiled: bool = False) -> None:
        self.name = f"yoloxkit_{'cl' if channels_last else 'nchw'}{'_amp' if amp else ''}{'_compiled' if compiled else ''}"
        self.layout_seconds = None
        if channels_last is None:  # the trainer's default: the layout it measures as faster here
            layout_name, self.layout_seconds = default_layout(setup)
            channels_last = layout_name == "channels_last"
            self.name = "yoloxkit_default"
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.channels_last = channels_last
        self.device = setup.device
        self.policy = AmpPolicy.resolve(setup.amp, setup.device) if amp else AmpPolicy.off(setup.device)
        self.precision = f"{self.policy.dtype}".removeprefix("torch.") + (" autocast" if self.policy.enabled else "")
        self.precision += " + GradScaler" if self.policy.use_scaler else ""
        self.model = create(setup.case.model).to(setup.device, memory_format=layout)
        self.model.load_state_dict(setup.state)
        self.model.train()
        self.clock = Clock(setup.device)
        self.loss = YOLOXLoss(assigner=TimedAssigner(VARIANT, self.clock))
        self.images = setup.images.to(setup.device).contiguous(memory_format=layout)
        self.targets = Targets.from_padded(setup.labels.to(setup.device))
        self.optimizer = sgd(self.model, setup.case.batch, foreach=True)
        self.scaler = self.policy.make_scaler()
        if compiled:  # torch.compile (inductor) of the network; compiled in the warm-up steps
            self.model = torch.compile(self.model)

    def step(self) -> torch.Tensor:
        """Zero grads, forward (autocast), float32 loss, backward, SGD step; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with self.policy.autocast():
            levels = self.model(self.images)
        loss = self.loss(levels, self.targets)["total"]
        backward_and_step(loss, self.optimizer, self.scaler)
        return loss


def default_layout(setup: Setup) -> tuple[str, dict[str, float]]:
    """The layout ``memory_format: auto`` chooses for this case, measured now (no cached choice),
    and the seconds per pass it measured for each layout."""
    import tempfile
    from unittest import mock

    from yoloxkit.train import layout as layouts
    from yoloxkit.train.config import make_train_config
    from yoloxkit.train.distributed import World

    measured: dict[str, float] = {}

    def measure(model: nn.Module, input_size: tuple[int, int], batch: int) -> dict[str, float]:
        measured.update(layouts.measure_layouts(model, input_size, batch))
        return measured

    size = setup.case.size
    config = make_train_config(overrides=[f"augment.input_size=[{size},{size}]"], data="unused", model=setup.case.model, batch=setup.case.batch)
    model = create(setup.case.model)
    model.load_state_dict(setup.state)
    with tempfile.TemporaryDirectory(prefix="layout_") as home, mock.patch.dict(os.environ, {"YOLOXKIT_HOME": home}):
        return layouts.choose_layout(config, model, setup.device, World(), measure), measured


SIDES = {
    "reference": ReferenceSide,
    "yoloxkit_default": partial(YoloxkitSide, channels_last=None, amp=False),
    "yoloxkit_nchw": partial(YoloxkitSide, channels_last=False, amp=False),
    "yoloxkit_cl": partial(YoloxkitSide, channels_last=True, amp=False),
    "yoloxkit_nchw_amp": partial(YoloxkitSide, channels_last=False, amp=True),
    "yoloxkit_cl_amp": partial(YoloxkitSide, channels_last=True, amp=True),
    "yoloxkit_cl_compiled": partial(YoloxkitSide, channels_last=True, amp=False, compiled=True),
}


def default_sides(device: torch.device, amp: bool) -> list[str]:
    """float32 sides, plus the AMP ones with ``--amp``; on CUDA with ``--amp`` only the AMP ones."""
    fp32 = ["reference", "yoloxkit_nchw", "yoloxkit_cl"] + (["yoloxkit_default"] if device.type == "cpu" else [])
    if not amp:
        return fp32
    amp_sides = ["yoloxkit_nchw_amp", "yoloxkit_cl_amp"]
    return ["reference", *amp_sides] if device.type == "cuda" else fp32 + amp_sides


def reference_model(case: Case) -> nn.Module:
    from yolox.config import YoloxConfig

    torch.manual_seed(SEED)
    return YoloxConfig.get_named_config(case.model.replace("-", "_")).get_model()


def make_setup(case: Case, label_images: int, device: torch.device, amp: str | None) -> Setup:
    images, labels = load_batch(case.size, case.batch, label_images)
    return Setup(case, reference_model(case).state_dict(), images, labels, device, amp)


def timed_step(side: YoloxkitSide | ReferenceSide) -> tuple[float, float, float, float]:
    """(wall seconds, process CPU seconds, assignment wall seconds, CUDA peak MiB) of one step."""
    cuda = side.device.type == "cuda"
    synchronize(side.device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(side.device)
        baseline = torch.cuda.memory_allocated(side.device)
    side.clock.seconds = 0.0
    start, start_cpu = time.perf_counter(), time.process_time()
    loss = side.step()
    synchronize(side.device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if not torch.isfinite(loss):
        raise RuntimeError(f"{side.name}: non-finite loss {float(loss)}")
    peak = (torch.cuda.max_memory_allocated(side.device) - baseline) / 2**20 if cuda else float("nan")
    return elapsed, cpu, side.clock.seconds, peak


def best_ratio(result: dict, names: list[str]) -> tuple[float, str] | None:
    """The largest ``ratio`` among ``names`` present in ``result``, and its side."""
    present = [n for n in names if n in result]
    if not present:
        return None
    best = max(present, key=lambda n: result[n]["ratio"])
    return result[best]["ratio"], best


def run_case(setup: Setup, sides: list[str], repeats: int, warmup: int) -> dict:
    case = setup.case
    built = {name: SIDES[name](setup) for name in sides}
    for _ in range(warmup):
        for side in built.values():
            side.step()
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in built}
    for r in range(repeats):
        for name in list(built) if r % 2 == 0 else list(built)[::-1]:
            samples[name].append(timed_step(built[name]))
    result: dict = {"case": case.key, "model": case.model, "size": case.size, "batch": case.batch}
    for name, values in samples.items():
        step = statistics.median(v[0] for v in values)
        result[name] = {
            "precision": built[name].precision,
            "step_ms": step * 1000,
            "images_per_s": case.batch / step,
            "min_step_ms": min(v[0] for v in values) * 1000,
            "cpu_ms": statistics.median(v[1] for v in values) * 1000,
            "assign_ms": statistics.median(v[2] for v in values) * 1000,
            "assign_share": statistics.median(v[2] / v[0] for v in values),
            "samples_ms": [round(v[0] * 1000, 1) for v in values],
        }
        if setup.device.type == "cuda":
            result[name]["peak_cuda_mib"] = max(v[3] for v in values)
    reference = result["reference"]["images_per_s"]
    for name in built:
        result[name]["ratio"] = result[name]["images_per_s"] / reference
    reference_fp32 = built["reference"].precision == "fp32"
    for kind, names in (("fp32", ["yoloxkit_nchw", "yoloxkit_cl"]), ("amp", ["yoloxkit_nchw_amp", "yoloxkit_cl_amp"])):
        best = best_ratio(result, names) if kind == "amp" or reference_fp32 else None
        if best is not None:
            result[f"ratio_{kind}"], result[f"best_side_{kind}"] = best
    if "yoloxkit_default" in result:
        result["ratio_default"] = result["yoloxkit_default"]["ratio"]
        result["yoloxkit_default"]["layout"] = "channels_last" if built["yoloxkit_default"].channels_last else "nchw"
        result["yoloxkit_default"]["layout_seconds"] = built["yoloxkit_default"].layout_seconds
    kind = "default" if "ratio_default" in result else "fp32" if "ratio_fp32" in result else "amp"
    if f"ratio_{kind}" in result:
        result["ratio"], result["ratio_kind"] = result[f"ratio_{kind}"], kind
    result["num_gt"] = int((setup.labels.sum(2) > 0).sum())
    return result


def measure_memory(setup: Setup, side_name: str) -> float:
    """Peak resident-set growth (MiB) of two training steps, in this (fresh) process."""
    import psutil

    side = SIDES[side_name](setup)
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


def memory_in_subprocess(case: Case, side_name: str, args: argparse.Namespace) -> float:
    command = [sys.executable, __file__, "--memory-probe", side_name, "--cases", case.key]
    command += ["--threads", str(args.threads), "--label-images", str(args.label_images)]
    command += ["--amp", args.amp] if args.amp else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"memory probe of {side_name} ({case.key}) failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    header = (
        f"{'case':<12} {'side':<18} {'precision':<30} {'step ms':>9} {'img/s':>7} {'ratio':>6} {'CPU ms':>8}"
        f" {'assign ms':>10} {'assign %':>9} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        for name in SIDES:
            if name not in row:
                continue
            side = row[name]
            peak = side.get("peak_rss_mib", side.get("peak_cuda_mib"))
            memory = f"{peak:9.0f}" if peak is not None else f"{'-':>9}"
            print(
                f"{row['case']:<12} {name:<18} {side['precision']:<30} {side['step_ms']:9.0f} "
                f"{side['images_per_s']:7.2f} {side['ratio']:5.2f}x {side['cpu_ms']:8.0f} {side['assign_ms']:10.1f} "
                f"{100 * side['assign_share']:8.1f}% {memory}"
            )
        parts = [f"{k} {row[f'ratio_{k}']:.2f}x ({row[f'best_side_{k}']})" for k in ("fp32", "amp") if f"ratio_{k}" in row]
        if "ratio_default" in row:
            parts.insert(0, f"trainer default {row['ratio_default']:.2f}x ({row['yoloxkit_default']['layout']})")
        print(f"{row['case']:<12} ratio {row['ratio']:.2f}x [{row['ratio_kind']}]; {'; '.join(parts)}; {row['num_gt']} objects")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), help=f"model-size-batch (default {' '.join(CPU_CASES)})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument(
        "--amp", nargs="?", const="auto", choices=["auto", "bf16", "fp16"],
        help="add AMP sides (AmpPolicy mode; bare --amp: fp16 + scaler on CUDA, bf16 on CPU)",
    )
    parser.add_argument("--sides", nargs="+", choices=list(SIDES), help="sides to run (the reference always runs)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per side (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--no-memory", action="store_true", help="skip the CPU peak-memory subprocesses")
    parser.add_argument(
        "--label-images", type=int, default=1, help="COCO128 label files per input (denser scenes, see load_batch)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--memory-probe", choices=list(SIDES), help=argparse.SUPPRESS)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(argv), repeats=1, warmup=0, no_memory=True)
    if args.smoke:
        CASES[SMOKE_CASE.key] = SMOKE_CASE
        args.cases = [SMOKE_CASE.key]

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    if args.amp == "auto" and device.type == "cpu":
        args.amp = "bf16"  # measure bfloat16 whether or not AmpPolicy's "auto" would pick it here
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # both sides, as the reference's train script sets it
    warnings.filterwarnings("ignore", category=FutureWarning)  # the reference's torch.cuda.amp use
    cases = args.cases or CPU_CASES
    if args.memory_probe:
        setup = make_setup(CASES[cases[0]], args.label_images, device, args.amp)
        print(measure_memory(setup, args.memory_probe))
        return 0
    sides = ["reference", *(s for s in args.sides if s != "reference")] if args.sides else default_sides(device, bool(args.amp))
    if any(s.endswith("_amp") for s in sides) and not args.amp:
        sys.exit("AMP sides need --amp")

    env = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: None)(),
        "cpu_amx": getattr(torch.cpu, "_is_amx_tile_supported", lambda: None)(),
        "amp": args.amp,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "assignment": VARIANT,
        "label_images": args.label_images,
        "loadavg_start": os.getloadavg(),
    }
    print(
        f"torch {env['torch']} on {env['device']}, {env['threads']} threads, {env['cpu_count']} CPUs, "
        f"{args.repeats} alternating repeats, SimOTA {VARIANT} on both sides, sides {', '.join(sides)}, "
        f"load average {env['loadavg_start'][0]:.2f}",
        flush=True,
    )
    results = []
    for key in cases:
        print(f"case {key} ...", flush=True)
        setup = make_setup(CASES[key], args.label_images, device, args.amp)
        with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
            result = run_case(setup, sides, args.repeats, args.warmup)
        if device.type == "cpu" and not args.no_memory:
            for name in sides:
                result[name]["peak_rss_mib"] = memory_in_subprocess(setup.case, name, args)
        results.append(result)
    env["loadavg_end"] = os.getloadavg()
    print()
    print_table(results)
    print(
        "(median step; ratio = images/s / the reference's; fp32 = float32 vs float32, amp = yoloxkit AMP vs the "
        f"reference's AMP recipe (float32 on CPU); assign = SimOTA time in the step; load average at end "
        f"{env['loadavg_end'][0]:.2f})"
    )
    if args.json:
        headline = {"ratio": min(r["ratio"] for r in results), "ratio_is": "the smallest images/s ratio (yoloxkit / reference) over the cases"}
        args.json.write_text(json.dumps(headline | {"environment": env, "provenance": machine(), "results": results}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
