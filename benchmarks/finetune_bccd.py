"""Training benchmark: yoloxkit's trainer against the reference's (pixeltable-yolox) on BCCD.

Both sides train the same model (yolox-nano by default) from the same initial
weights on the BCCD ``train`` split with the same recipe, budget and seed; the final EMA model
of each is then scored by the same evaluator on the ``val`` split.

Data: BCCD (Pascal VOC layout, ``ImageSets/Main`` has ``train`` 205 / ``val`` 87 / ``test`` 72
images, 3 classes) is read by yoloxkit and written once as COCO JSON into a temporary folder
(images hard-linked), and BOTH sides train from that folder, so they see identical boxes
(the reference's VOC loader would subtract one pixel from each coordinate; its COCO loader does
not).

Initial weights: the reference's own initialisation (``YoloxConfig.get_model()``: its BN eps and
momentum, prior-probability biases) under ``torch.manual_seed(seed)``, saved once (as a yoloxkit
checkpoint with the class names, so that the trainer's loader matches every head row) and
loaded into both models (their state-dict keys are the same).

Reference side: its trainer (``yolox.core.Trainer``) needs CUDA (``torch.cuda.set_device``,
a CUDA tensor in ``random_resize``, a CUDA-stream prefetcher), so :func:`train_reference` runs
its components in a loop that follows ``Trainer.train_one_iter`` / ``before_epoch`` /
``after_iter`` line by line: its config class (``YoloxNano``/``YoloxTiny`` with the recipe
values set), ``get_model`` (``YoloxModule``, train mode returns its losses, its SimOTA),
``get_optimizer`` (its three parameter groups, SGD nesterov), ``get_data_loader``
(``CocoDataset`` + ``MosaicDetection`` + ``TrainTransform``, ``InfiniteSampler`` seeded,
``YoloBatchSampler``, its ``DataLoader`` with ``close_mosaic``), ``get_lr_scheduler``
("yoloxwarmcos", written into the groups after every step), ``ModelEMA(model, decay)``,
``preprocess`` (the multi-scale resize of the batch) and ``save_checkpoint`` every epoch as its
trainer does. Seeding as its ``train`` command does (``random.seed``, ``torch.manual_seed``).
What it does differently from ``Trainer``: no CUDA prefetch stream, no logger/TensorBoard, no
evaluation during training (neither side evaluates before the end), and the multi-scale draw
of ``random_resize`` is inlined (the same ``random.randint`` on its rank-0 path, without the
CUDA broadcast tensor).

yoloxkit side: ``yoloxkit.train.Trainer`` with ``make_train_config`` (``weights`` = the shared
initial weights, every recipe value set explicitly so that no fine-tuning default applies),
validation during training off, CSV log only.

Same on both sides: model, input size, epochs, batch, lr per image (0.01/64 by default),
warm-up epochs (quadratic from 0), cosine to 5 %, no-aug epochs (mosaic closed and L1 on one
epoch before the constant-lr phase, as the reference does it), EMA decay 0.9998 with the
2000-update ramp, multi-scale every 10 iterations over 32 * [size/32 - 5, size/32 + 5], the
nano augmentation (mosaic prob 0.5, scale 0.5..1.5, no mixup, degrees 10, translate 0.1,
shear 2, HSV, flip 0.5), 120 label rows, loader workers, seed, float32 (or ``--amp fp16``
on CUDA for both), and the SimOTA rule: ``megvii2023`` (the one the reference implements);
``--assigner original`` trains yoloxkit with the rule of the released weights instead.
Randomness is seeded on both sides but the streams differ (yoloxkit draws its augmentation
from ``(seed, epoch, position)``; the reference from Python's ``random`` and, with loader
workers, from per-worker ``uuid`` seeds), so single runs differ by run-to-run noise too:
``--seeds 0 1 2`` repeats the comparison and reports the mean.

Evaluation: ``yoloxkit.evaluation.evaluate`` (pycocotools-exact COCO mAP) on ``val`` with each
side's final EMA weights loaded into the same yoloxkit model and ``Detector``: letterbox at
the training size, score threshold 0.001, NMS IoU 0.65 (the reference's test settings).

Reported per side: mAP50:95, mAP50, mAP75, training seconds (the loop only: loader start-up
included, final evaluation excluded), images trained and images/s; ``ratio`` = yoloxkit
mAP50:95 / reference mAP50:95 (means over seeds).

    python benchmarks/finetune_bccd.py                                # CPU: nano@256, 3 epochs, b8, seed 0
    python benchmarks/finetune_bccd.py --preset gpu --json out.json   # the committed run: nano@416, 40 epochs, b16, 3 seeds
    python benchmarks/finetune_bccd.py --preset gpu --epochs 150 --seeds 0 1 2 3 4 --jobs 5   # longer, more seeds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from common import machine

from yoloxkit.checkpoints import save_checkpoint
from yoloxkit.data.preprocess import PreprocessContract
from yoloxkit.datasets import Dataset, Report, load_dataset, write_dataset
from yoloxkit.detector import Detector
from yoloxkit.errors import YoloxkitError
from yoloxkit.evaluation import evaluate
from yoloxkit.files import atomic_write
from yoloxkit.models import create
from yoloxkit.train.config import make_train_config
from yoloxkit.train.trainer import Trainer

if TYPE_CHECKING:
    from yolox.config import YoloxConfig

ROOT = Path(__file__).resolve().parents[1]
BCCD = ROOT / ".." / "shared" / "datasets" / "bccd"
EVAL_CONF, EVAL_IOU = 0.001, 0.65
#: Flag defaults per ``--preset``: ``cpu`` = the Recipe defaults (a plumbing and speed check that
#: fits ~25 minutes on 2 shared cores; both models stay near 0 mAP), ``gpu`` = the committed run.
PRESETS: dict[str, dict] = {
    "cpu": {},
    "gpu": {
        "size": 416, "epochs": 40, "batch": 16, "warmup_epochs": 2, "no_aug_epochs": 5, "workers": 4,
        "device": "cuda", "seeds": [0, 1, 2], "jobs": 3,
    },
    # checks that the script runs (CI), measures nothing: 16 images per split at 64 px, 2 epochs
    "smoke": {"size": 64, "epochs": 2, "batch": 8, "warmup_epochs": 1, "no_aug_epochs": 1, "workers": 0, "multiscale_range": 0,
              "seeds": [0], "jobs": 1, "max_images": 16},
}  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """Every value both sides train with."""

    model: str = "yolox-nano"
    size: int = 256
    epochs: int = 3
    batch: int = 8
    basic_lr_per_img: float = 0.01 / 64
    warmup_epochs: int = 1
    no_aug_epochs: int = 1
    ema_decay: float = 0.9998
    multiscale_range: int = 5  # 0: no multi-scale training
    workers: int = 2
    seed: int = 0
    device: str = "cpu"
    amp: str = "off"  # off | fp16 (CUDA only)
    assigner: str = "megvii2023"  # yoloxkit's SimOTA rule; the reference implements megvii2023

    @property
    def random_size(self) -> tuple[int, int]:
        """Multi-scale range in units of 32 (both sides)."""
        return self.size // 32 - self.multiscale_range, self.size // 32 + self.multiscale_range


# ------------------------------------------------------------------------------------------ data
def prepare_data(source: Path, work: Path, max_images: int | None = None) -> tuple[Path, Dataset]:
    """BCCD written as COCO JSON under ``work`` (both sides train from it) and read back
    (``max_images``: only the first images of each split, for ``--smoke``)."""
    dataset = load_dataset(source, Report(strict=True))
    for split in ("train", "val"):
        if split not in dataset.splits:
            raise YoloxkitError(f"{source}: no {split!r} split (found {', '.join(dataset.splits)})")
    if max_images:
        splits = {name: replace(split, images=split.images[:max_images]) for name, split in dataset.splits.items()}
        dataset = replace(dataset, splits=splits)
    folder = work / "bccd-coco"
    write_dataset(dataset, "coco", folder, Report(strict=True))
    return folder, load_dataset(folder, Report(strict=True))


def initial_weights(recipe: Recipe, class_names: list[str], path: Path) -> dict[str, torch.Tensor]:
    """The reference's initialisation of the model under ``torch.manual_seed(seed)``, saved to ``path``.

    Saved as a yoloxkit checkpoint with the class names, so that the trainer's partial loader
    matches every class row of the head by name and loads all tensors.
    """
    torch.manual_seed(recipe.seed)
    state = reference_config(recipe, len(class_names), Path(".")).get_model().state_dict()
    state = {k: v.detach().clone() for k, v in state.items()}
    model = create(recipe.model, len(class_names))
    model.load_state_dict(state)
    save_checkpoint(path, model, recipe.model, class_names, PreprocessContract((recipe.size, recipe.size)).to_dict())
    return state


# ------------------------------------------------------------------------------------ reference
def reference_config(recipe: Recipe, num_classes: int, data_dir: Path) -> YoloxConfig:
    """The reference's config of ``recipe.model`` with every recipe value set."""
    from yolox.config import YoloxConfig

    config = YoloxConfig.get_named_config(recipe.model.replace("-", "_"))
    if config is None:
        raise YoloxkitError(f"--model: the reference has no config {recipe.model!r}")
    config.num_classes = num_classes
    config.input_size = config.test_size = (recipe.size, recipe.size)
    config.random_size = recipe.random_size
    config.multiscale_range = recipe.multiscale_range
    config.max_epoch = recipe.epochs
    config.warmup_epochs = recipe.warmup_epochs
    config.no_aug_epochs = recipe.no_aug_epochs
    config.basic_lr_per_img = recipe.basic_lr_per_img
    config.data_num_workers = recipe.workers
    config.seed = recipe.seed
    config.data_dir = str(data_dir)
    config.train_ann, config.train_img_dir = "instances_train.json", "train"
    return config


def reference_random_size(config: YoloxConfig, random_size: tuple[int, int]) -> tuple[int, int]:
    """``YoloxConfig.random_resize`` on rank 0, without its CUDA broadcast tensor."""
    size_factor = config.input_size[1] * 1.0 / config.input_size[0]
    size = random.randint(*random_size)
    return int(32 * size), 32 * int(size * size_factor)


def train_reference(recipe: Recipe, data_dir: Path, num_classes: int, init: dict, work: Path) -> tuple[dict, dict]:
    """Train with the reference's components as its ``Trainer`` does; (EMA state dict, timing)."""
    from yolox.utils import ModelEMA, save_checkpoint

    random.seed(recipe.seed)  # as its `train` command seeds a run
    torch.manual_seed(recipe.seed)
    device = torch.device(recipe.device)
    amp = recipe.amp == "fp16"
    data_type = torch.float16 if amp else torch.float32
    config = reference_config(recipe, num_classes, data_dir)
    model = config.get_model()
    model.load_state_dict(init)
    model.to(device)
    optimizer = config.get_optimizer(recipe.batch)
    loader = config.get_data_loader(batch_size=recipe.batch, is_distributed=False, no_aug=False)
    max_iter = len(loader)
    scheduler = config.get_lr_scheduler(config.basic_lr_per_img * recipe.batch, max_iter)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    ema = ModelEMA(model, recipe.ema_decay)
    ema.updates = 0
    input_size = config.input_size
    started = time.perf_counter()
    batches = iter(loader)
    for epoch in range(recipe.epochs):
        if epoch + 1 == recipe.epochs - recipe.no_aug_epochs:  # Trainer.before_epoch
            loader.close_mosaic()
            model.head.use_l1 = True
        for i in range(max_iter):  # Trainer.train_one_iter
            inps, targets = next(batches)[:2]
            inps = inps.to(device, non_blocking=True).to(data_type)
            targets = targets.to(device, non_blocking=True).to(data_type)
            targets.requires_grad = False
            inps, targets = config.preprocess(inps, targets, input_size)
            with torch.autocast(device.type, enabled=amp):
                outputs = model(inps, targets)
            loss = outputs["total_loss"]
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            ema.update(model)
            progress = epoch * max_iter + i
            lr = scheduler.update_lr(progress + 1)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if recipe.multiscale_range and (progress + 1) % 10 == 0:  # Trainer.after_iter
                input_size = reference_random_size(config, recipe.random_size)
        state = {"start_epoch": epoch + 1, "model": ema.ema.state_dict(), "optimizer": optimizer.state_dict()}
        save_checkpoint(state, False, str(work / "reference-run"), "latest")  # Trainer.after_epoch
    seconds = _synchronised_clock(device) - started
    images = recipe.epochs * max_iter * recipe.batch  # the infinite sampler fills every batch
    return ema.ema.state_dict(), {"train_time_s": seconds, "images": images, "iters_per_epoch": max_iter}


def _synchronised_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# ------------------------------------------------------------------------------------- yoloxkit
def yoloxkit_overrides(recipe: Recipe) -> list[str]:
    """``key=value`` settings of the recipe for ``make_train_config`` (nothing left to defaults that differ)."""
    low, high = recipe.random_size
    return [
        f"augment.input_size=[{recipe.size},{recipe.size}]",
        f"optim.basic_lr_per_img={recipe.basic_lr_per_img!r}",
        f"optim.warmup_epochs={recipe.warmup_epochs}",
        "optim.warmup_lr=0.0",
        "optim.min_lr_ratio=0.05",
        "optim.scheduler=yoloxwarmcos",
        f"augment.no_aug_epochs={recipe.no_aug_epochs}",
        f"ema.decay={recipe.ema_decay!r}",
        "ema.ramp=2000.0",
        f"multiscale.enabled={'true' if recipe.multiscale_range else 'false'}",
        "multiscale.every=10",
        f"multiscale.random_size=[{low},{high}]",
        "finetune.freeze=none",
        "finetune.class_mode=new",
        f"loader.workers={recipe.workers}",
        "loader.val_split=null",
        f"assigner={recipe.assigner}",
        "amp=fp16" if recipe.amp == "fp16" else "amp='off'",  # quoted: YAML reads a bare off as false
        "log.sinks=[csv]",
        "log.progress=false",
        "log.plots=false",
    ]


def train_yoloxkit(recipe: Recipe, data_dir: Path, dataset: Dataset, init_path: Path, work: Path) -> tuple[dict, dict]:
    """Train with ``yoloxkit.train.Trainer``; (EMA state dict, timing)."""
    config = make_train_config(
        overrides=yoloxkit_overrides(recipe), data=str(data_dir), model=recipe.model, weights=str(init_path),
        epochs=recipe.epochs, batch=recipe.batch, seed=recipe.seed, device=recipe.device, out=work / "yoloxkit-run",
    )  # fmt: skip
    trainer = Trainer(config, dataset=dataset)
    summary = trainer.fit()
    state = {k: v.detach().cpu() for k, v in trainer.eval_model().state_dict().items()}
    images = round(summary["images_per_s"] * summary["train_time_s"])
    return state, {"train_time_s": summary["train_time_s"], "images": images, "iters_per_epoch": trainer.iters_per_epoch}


# ----------------------------------------------------------------------------------- evaluation
def score(recipe: Recipe, state: dict, dataset: Dataset) -> dict[str, float]:
    """COCO mAP of ``state`` on ``val`` through yoloxkit's evaluator (the same for both sides)."""
    names = [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]
    model = create(recipe.model, len(names))
    model.load_state_dict(state)
    detector = Detector(model, recipe.model, names, PreprocessContract((recipe.size, recipe.size)), recipe.device, pretrained=False)
    coco = evaluate(detector, dataset, "val", conf=EVAL_CONF, iou=EVAL_IOU).coco
    return {"mAP50_95": float(coco["AP"]), "mAP50": float(coco["AP50"]), "mAP75": float(coco["AP75"])}


def run_seed(recipe: Recipe, source: Path, sides: list[str], max_images: int | None = None) -> dict[str, dict]:
    """Both sides for one seed, in a temporary folder; per side metrics and timing."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="finetune_bccd_") as tmp:
        work = Path(tmp)
        data_dir, dataset = prepare_data(source, work, max_images)
        class_names = [c.name for c in sorted(dataset.categories, key=lambda c: c.id)]
        num_classes = len(class_names)
        init_path = work / "init.pt"
        init = initial_weights(recipe, class_names, init_path)
        for side in sides:
            print(f"seed {recipe.seed}: training {side} ...", flush=True)
            if side == "reference":
                state, timing = train_reference(recipe, data_dir, num_classes, init, work)
            else:
                state, timing = train_yoloxkit(recipe, data_dir, dataset, init_path, work)
            metrics = score(recipe, state, dataset)
            timing["images_per_s"] = timing["images"] / timing["train_time_s"]
            results[side] = metrics | timing
            print(f"seed {recipe.seed} {side}: " + ", ".join(f"{k} {v:.4g}" for k, v in results[side].items()), flush=True)
    return results


# -------------------------------------------------------------------------------------- report
SIDES = ("reference", "yoloxkit")
FIELDS = ("mAP50_95", "mAP50", "mAP75", "train_time_s", "images", "images_per_s")
VERDICT = {True: "met", False: "NOT met", None: "undecided (the reference scored 0)"}


def summarise(per_seed: list[dict[str, dict]]) -> dict:
    """Means over seeds per side, and the ratios of yoloxkit to the reference."""
    summary: dict = {}
    for side in SIDES:
        summary[side] = {k: statistics.fmean(run[side][k] for run in per_seed) for k in FIELDS}
        summary[side]["per_seed"] = {k: [run[side][k] for run in per_seed] for k in ("mAP50_95", "mAP50")}
        if len(per_seed) > 1:
            summary[side]["std"] = {k: statistics.stdev(v) for k, v in summary[side]["per_seed"].items()}
    ref, ours = summary["reference"], summary["yoloxkit"]
    summary["ratio"] = ours["mAP50_95"] / ref["mAP50_95"] if ref["mAP50_95"] > 0 else None  # None: the reference scored 0
    summary["ratio_mAP50"] = ours["mAP50"] / ref["mAP50"] if ref["mAP50"] > 0 else None
    summary["ratio_images_per_s"] = ours["images_per_s"] / ref["images_per_s"]
    summary["target_met"] = ours["mAP50_95"] >= ref["mAP50_95"] if ref["mAP50_95"] > 0 else None  # None: nothing learnt
    return summary


def print_table(summary: dict, seeds: list[int]) -> None:
    """The comparison as a plain-text table."""
    print()
    print(f"{'side':<10} {'mAP50:95':>9} {'mAP50':>7} {'mAP75':>7} {'train s':>9} {'images':>7} {'img/s':>7}")
    for side in SIDES:
        s = summary[side]
        print(
            f"{side:<10} {s['mAP50_95']:>9.4f} {s['mAP50']:>7.4f} {s['mAP75']:>7.4f} {s['train_time_s']:>9.1f} "
            f"{s['images']:>7.0f} {s['images_per_s']:>7.2f}"
        )
        if "std" in s:
            print(f"{'':<10} {'±' + format(s['std']['mAP50_95'], '.4f'):>9} {'±' + format(s['std']['mAP50'], '.4f'):>7}  (std over seeds)")
    ratios = [f"{r:.3f}" if r is not None else "n/a (reference 0)" for r in (summary["ratio"], summary["ratio_mAP50"])]
    print(
        f"ratio (yoloxkit / reference mAP50:95) {ratios[0]}, mAP50 {ratios[1]}, "
        f"images/s {summary['ratio_images_per_s']:.2f}; means over seeds {seeds}; target yoloxkit >= reference: "
        f"{VERDICT[summary['target_met']]}"
    )


def environment(recipe: Recipe) -> dict:
    """Versions and machine, for the JSON."""
    import yolox

    device = torch.device(recipe.device)
    return {
        "torch": torch.__version__,
        "reference": f"pixeltable-yolox {getattr(yolox, '__version__', '?')}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags (the recipe, seeds, output)."""
    d = Recipe()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=BCCD, help="BCCD in the Pascal VOC layout (train and val splits)")
    p.add_argument("--model", default=d.model, choices=["yolox-nano", "yolox-tiny"])
    p.add_argument("--size", type=int, default=d.size, help="training and evaluation input size (multiple of 32)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr-per-img", type=float, default=d.basic_lr_per_img, help="basic_lr_per_img (lr = this * batch)")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs)
    p.add_argument("--no-aug-epochs", type=int, default=d.no_aug_epochs)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--multiscale-range", type=int, default=d.multiscale_range, help="0 turns multi-scale training off")
    p.add_argument("--workers", type=int, default=d.workers, help="data loader workers (each side)")
    p.add_argument("--device", default=d.device, help="cpu or cuda")
    p.add_argument("--amp", default=d.amp, choices=["off", "fp16"], help="fp16: CUDA AMP on both sides")
    p.add_argument("--assigner", default=d.assigner, choices=["megvii2023", "original"], help="yoloxkit's SimOTA rule")
    p.add_argument("--seeds", type=int, nargs="+", default=[d.seed], help="one comparison per seed; means reported")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at the same time (subprocesses); timings then share the machine")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--preset", choices=list(PRESETS), default="cpu", help="flag defaults (explicit flags win)")
    p.add_argument("--max-images", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--smoke", action="store_const", const="smoke", dest="preset", help="= --preset smoke (tiny, for CI)")
    p.set_defaults(**PRESETS[p.parse_known_args(argv)[0].preset])
    args = p.parse_args(argv)
    if args.size % 32 or args.size // 32 - args.multiscale_range < 1:
        p.error("--size must be a multiple of 32 and size/32 - multiscale-range >= 1")
    if args.amp == "fp16" and not args.device.startswith("cuda"):
        p.error("--amp fp16 needs --device cuda")
    if args.no_aug_epochs >= args.epochs:
        p.error("--no-aug-epochs must be smaller than --epochs")
    return args


def run_seeds(recipe: Recipe, args: argparse.Namespace, argv: list[str]) -> list[dict[str, dict]]:
    """One comparison per seed: in this process one after the other, or ``--jobs`` subprocesses at a time."""
    if args.jobs <= 1 or len(args.seeds) == 1:
        return [run_seed(replace(recipe, seed=seed), args.data, list(SIDES), args.max_images) for seed in args.seeds]
    runs: dict[int, list] = {}
    with tempfile.TemporaryDirectory(prefix="finetune_bccd_jobs_") as tmp:
        base = _without_options(argv, ("--seeds", "--jobs", "--json"))
        pending = list(args.seeds)
        active: dict[int, subprocess.Popen] = {}
        while pending or active:
            while pending and len(active) < args.jobs:
                seed = pending.pop(0)
                out = Path(tmp) / f"seed_{seed}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), *base, "--seeds", str(seed), "--json", str(out)]
                active[seed] = subprocess.Popen(cmd)
            time.sleep(1.0)
            for seed, proc in list(active.items()):
                if proc.poll() is None:
                    continue
                del active[seed]
                if proc.returncode:
                    raise YoloxkitError(f"seed {seed}: the run failed with exit status {proc.returncode}")
                runs[seed] = json.loads((Path(tmp) / f"seed_{seed}.json").read_text())["runs"]
    return [run for seed in args.seeds for run in runs[seed]]


def _without_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without the options ``names`` and their values."""
    kept, skipping = [], False
    for item in argv:
        if item.startswith("--"):
            skipping = item.split("=")[0] in names
        if not skipping:
            kept.append(item)
    return kept


def main(argv: list[str] | None = None) -> int:
    """Run the comparison for every seed, print the table, write the JSON."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    recipe = Recipe(
        args.model, args.size, args.epochs, args.batch, args.lr_per_img, args.warmup_epochs, args.no_aug_epochs,
        args.ema_decay, args.multiscale_range, args.workers, args.seeds[0], args.device, args.amp, args.assigner,
    )  # fmt: skip
    env = environment(recipe)
    print(f"{recipe}\n{env}", flush=True)
    try:
        per_seed = run_seeds(recipe, args, argv)
    except YoloxkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = summarise(per_seed)
    env["loadavg_end"] = os.getloadavg()
    env["concurrent_seed_jobs"] = min(args.jobs, len(args.seeds))
    print_table(summary, args.seeds)
    if args.json:
        recipe_fields = asdict(recipe) | {"seeds": args.seeds, "random_size": list(recipe.random_size)}
        payload = {
            "benchmark": "finetune_bccd",
            "command": " ".join(["python", "benchmarks/finetune_bccd.py", *argv]),
            "environment": env,
            "recipe": recipe_fields,
            "evaluation": {"split": "val", "conf": EVAL_CONF, "nms_iou": EVAL_IOU, "evaluator": "yoloxkit.evaluation.evaluate"},
            "provenance": machine(),
            **summary,
            "runs": per_seed,
        }
        with atomic_write(args.json) as f:
            f.write((json.dumps(payload, indent=2) + "\n").encode())
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
