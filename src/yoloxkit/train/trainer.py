"""The training loop: the reference's YOLOX recipe, exact resume, fine-tuning controls, run logs.

One iteration: the learning rate of the global iteration is written into the optimizer groups
(times their part multipliers), the uint8 batch goes to the device as float, the batch is
resized for multi-scale training every ``multiscale.every`` iterations, the model runs under the
AMP policy, :class:`~yoloxkit.loss.YOLOXLoss` assigns (SimOTA) and scores in float32, gradients
are accumulated, clipped and applied, and the EMA model follows. Everything around the step is
a hook (:mod:`yoloxkit.train.hooks`) called after each iteration and epoch: validation of the
EMA model (every ``val.interval`` epochs and every epoch of the no-augmentation phase), ``last.pt``
/ ``best.pt`` / periodic checkpoints, the run log and early stopping.

Everything random is derived from ``seed``: the data order and augmentations from
``(seed, epoch, position)`` (see :mod:`yoloxkit.loader.factory`), the multi-scale sizes from
``(seed, iteration block)``. A run resumed from ``last.pt`` therefore replays exactly what an
uninterrupted run does.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import torch

from ..checkpoints import LoadedCheckpoint
from ..config import from_dict, to_dict
from ..data.preprocess import PreprocessContract
from ..datasets import Dataset
from ..devices import resolve_device
from ..errors import YoloxkitError
from ..loader import LoaderConfig, images_to_device, make_train_loader
from ..loss import RotatedSimOTAAssigner, RotatedYOLOXLoss, SimOTAAssigner, Targets, YOLOXLoss
from ..models import YOLOX, create, get_spec
from ..outputs import dataset_inputs, prepare_output_dir
from ..structures.boxes import BoxFormat
from .amp import AmpPolicy
from .config import TrainConfig
from .conv_scale import rescale_inflated_convs
from .distributed import barrier, close_world, init_world, mean_over_processes, wrap_model
from .ema import ModelEMA
from .finetune import LoadReport, dataset_class_map, load_partial
from .freeze import UnfreezeSchedule, apply_freeze, set_frozen_bn_eval
from .hooks import EpochEnd, Hook, StepEnd, default_hooks
from .layout import LAYOUTS, choose_layout
from .multiscale import multiscale_size, resize_batch
from .param_groups import build_param_groups, make_sgd, set_lr
from .progress import DataTimeWatch, TrainProgress
from .pseudo import with_pseudo_labels
from .sampling import image_classes_of, make_sampler
from .schedule import LRSchedule
from .start import check_training_splits, load_training_dataset, starting_weights
from .state import LAST, Progress, capture_rng, read_resume, restore_rng
from .summary import format_summary, run_summary, write_summary
from .validate import Validator

logger = logging.getLogger("yoloxkit")

LOSS_TERMS = ("total", "iou", "obj", "cls", "l1")


class Trainer:
    """Train a YOLOX model as ``config`` says; ``Trainer(config).fit()`` returns the run summary.

    To continue an interrupted (or extend a finished) run, use :meth:`Trainer.resume`.
    ``dataset`` replaces ``config.data`` with an already loaded dataset. A run folder
    (``config.out``) that already holds files is refused unless ``exist_ok`` (start over in it,
    replacing its checkpoints and logs) or the run is resumed; it may never hold or lie inside
    the dataset.
    """

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        resume_from: LoadedCheckpoint | str | Path | None = None,
        exist_ok: bool = False,
    ) -> None:
        self.device = resolve_device(None if config.device == "auto" else config.device)
        self.world = init_world(self.device)
        if self.world.main:  # one process checks and creates the run folder, before any work
            inputs = [*dataset_inputs(config.data), config.weights if config.weights != "pretrained" else None]
            allowed = exist_ok or resume_from is not None
            prepare_output_dir(config.out, inputs, allowed, flag="--resume to continue that run, or --exist-ok to start over in it")
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
            torch.cuda.set_device(self.device)
        if resume_from is not None and not isinstance(resume_from, LoadedCheckpoint):
            resume_from = read_resume(Path(resume_from))
        self.resume_checkpoint = resume_from
        self.config = config
        self.out = Path(config.out)
        if dataset is None and not config.data:
            raise YoloxkitError("data: name the dataset to train on (a folder, data.yaml, COCO JSON or split manifest)")
        self.dataset = with_pseudo_labels(dataset if dataset is not None else load_training_dataset(config.data, self.world.main), config, self.device, self.world.main)
        check_training_splits(self.dataset, config, self.world.main)
        self.amp = AmpPolicy.resolve(config.amp, self.device)
        self.rotated = get_spec(config.model).rotated
        if self.rotated and self.dataset.box_format not in (BoxFormat.QBOX, BoxFormat.RBOX):
            raise YoloxkitError(f"model: {config.model} needs oriented boxes (DOTA, YOLO-OBB), the dataset has {self.dataset.box_format.value} boxes")
        self.input_size = tuple(config.augment.input_size)
        self.progress = Progress()
        self._accumulated_positives: torch.Tensor | float = 0.0  # loss normalisers of the batches since the last step
        self.load_report: LoadReport | None = None
        self._epoch_means: dict[str, float] = {}
        self._build_model()
        self._build_optimisation()
        self._build_data()
        self.hooks: list[Hook] = default_hooks(self)
        if self.resume_checkpoint is not None:
            self._restore(self.resume_checkpoint.metadata["resume"])

    # ------------------------------------------------------------------------------------ set-up
    @classmethod
    def resume(
        cls, run: str | Path, epochs: int | None = None, dataset: Dataset | None = None, **changes: object
    ) -> Trainer:
        """A trainer that continues the run saved in ``run`` (its folder or its ``last.pt``).

        Everything is restored: live and EMA weights, optimizer, gradient scaler, RNG states,
        epoch and iteration, best metric and early-stopping counter. ``epochs`` beyond the saved
        plan extend the run (the schedule is recomputed for the new length); ``changes`` replace
        top-level settings that do not alter the recipe (``device``, ``out``, ...).
        """
        path = Path(run)
        checkpoint = read_resume(path)
        config = from_dict(TrainConfig, checkpoint.metadata["training"]["config"])
        if epochs is not None:
            config = config.with_epochs(epochs)
        changes.setdefault("out", path.parent if path.suffix == ".pt" else path)
        return cls(dataclasses.replace(config, **changes), dataset, resume_from=checkpoint)

    def _build_model(self) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        dataset_names = [c.name for c in sorted(self.dataset.categories, key=lambda c: c.id)]
        start = starting_weights(cfg, dataset_names, self.resume_checkpoint, self.world.main)
        self.class_names = start.class_names
        self.class_map = torch.tensor(dataset_class_map(dataset_names, self.class_names), device=self.device)
        model = create(cfg.model, len(self.class_names))
        if start.checkpoint is not None:
            self.load_report = load_partial(
                model, start.checkpoint, self.class_names, start.checkpoint_names, cfg.finetune.min_match, cfg.finetune.force
            )
            self.load_report.rescaled = rescale_inflated_convs(model, cfg.finetune.rescale_convs)
            if self.world.main:
                logger.info("weights %s\n%s", start.checkpoint.path, self.load_report.summary())
        self.config = cfg = dataclasses.replace(cfg, memory_format=choose_layout(cfg, model, self.device, self.world))  # resumes keep it
        self.model: YOLOX = model.to(self.device, memory_format=LAYOUTS[cfg.memory_format])
        self.freeze_schedule = UnfreezeSchedule.from_options(cfg.finetune.freeze, cfg.finetune.unfreeze)
        self.ema = ModelEMA(self.model, cfg.ema.decay, cfg.ema.ramp) if cfg.ema.enabled else None
        if self.world.distributed and len(self.freeze_schedule.steps) > 1:
            raise YoloxkitError("finetune.unfreeze: progressive unfreezing is not supported with several processes")
        self.model, self.net = wrap_model(self.model, self.world, self.device, cfg.sync_bn)

    def _build_optimisation(self) -> None:
        cfg = self.config
        groups = build_param_groups(self.model, cfg.optim.weight_decay, cfg.optim.lr_mult)
        self.optimizer = make_sgd(groups, cfg.optim.warmup_lr, cfg.optim.momentum, cfg.optim.nesterov)
        self.scaler = self.amp.make_scaler()
        if self.rotated:
            self.criterion: YOLOXLoss = RotatedYOLOXLoss(self.model.head.strides, RotatedSimOTAAssigner())
        else:
            self.criterion = YOLOXLoss(self.model.head.strides, SimOTAAssigner(cfg.assigner), use_l1=False)
        if self.world.distributed:  # normalise by the mean positives over processes (as MMDetection)
            self.criterion.normalizer = lambda n: mean_over_processes(n, self.world)

    def _build_data(self) -> None:
        cfg = self.config
        if cfg.batch % self.world.size:
            raise YoloxkitError(f"batch: {cfg.batch} images do not split evenly over {self.world.size} processes")
        world, loader = self.world, cfg.loader
        loader_config = LoaderConfig(
            batch_size=cfg.batch, num_workers=loader.workers, cache=loader.cache, cache_dir=loader.cache_dir,
            skip_bad_images=loader.skip_bad_images, seed=cfg.seed, drop_last=world.distributed, rank=world.rank,
            world_size=world.size, rbox_targets=self.rotated,
        )  # fmt: skip

        def sampler_factory(records):  # noqa: ANN001, ANN202 - TrainRecords -> Sampler | None
            return make_sampler(cfg.loader.sampling, image_classes_of(records), cfg.seed, cfg.loader.repeat_threshold)

        self.loader = make_train_loader(self.dataset, cfg.loader.train_split, cfg.augment, loader_config, sampler_factory)
        self.iters_per_epoch = len(self.loader)
        if self.iters_per_epoch == 0:
            raise YoloxkitError(f"batch: the split {cfg.loader.train_split!r} has fewer images than one batch of {cfg.batch}")
        self.steps_per_epoch = math.ceil(self.iters_per_epoch / cfg.optim.accumulate)
        self.validator = None
        val_split = cfg.loader.val_split
        if val_split is not None and val_split in self.dataset.splits and self.world.main:
            self.validator = Validator(
                self.dataset, val_split, cfg.model, self.class_names, self.input_size, cfg.val.conf, cfg.val.iou, cfg.val.batch,
                cfg.val.loss, cfg.val.per_class, self.rotated,
            )  # fmt: skip
        elif val_split is not None and val_split not in self.dataset.splits and self.world.main:
            logger.warning("no split %r to validate on: best.pt and early stopping are off", val_split)

    def schedule(self) -> LRSchedule:
        """The learning rate per optimizer step for the planned epochs (with ``optim.accumulate``, a
        step takes several batches: the schedule follows the effective batch, as one larger batch)."""
        o = self.config.optim
        return LRSchedule(
            o.scheduler, self.config.base_lr(), self.steps_per_epoch, self.config.epochs, o.warmup_epochs,
            o.warmup_lr, self.config.augment.no_aug_epochs, o.min_lr_ratio,
        )  # fmt: skip

    # ------------------------------------------------------------------------------------ resume
    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        self.progress = Progress(**state["progress"])
        self.progress.stop_reason = None
        if self.world.main:
            logger.info("resuming %s after epoch %d (iteration %d)", self.out / LAST, self.progress.epoch, self.progress.iteration)

    def resume_state(self) -> dict:
        """What ``last.pt`` needs to continue the run exactly (weights, optimizer, RNG, progress)."""
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng(),
            "progress": dataclasses.asdict(self.progress),
        }

    # ------------------------------------------------------------------------------------ the run
    def fit(self) -> dict:
        """Train until the planned epochs end or a hook stops the run; return (and write) the summary."""
        cfg = self.config
        start_epoch = self.progress.epoch
        if start_epoch >= cfg.epochs:
            raise YoloxkitError(f"epochs: the run already trained {start_epoch} epochs; pass a larger --epochs to extend it")
        bar = TrainProgress(cfg.epochs, self.iters_per_epoch, cfg.log.progress and self.world.main)
        schedule = self.schedule()
        started = time.perf_counter()
        images_seen = 0
        try:
            for hook in self.hooks:
                hook.before_train(self)
            for epoch in range(start_epoch, cfg.epochs):
                epoch_start = time.perf_counter()
                images_seen += self._train_epoch(epoch, schedule, bar)
                self.progress.epoch = epoch + 1
                end = EpochEnd(epoch + 1, {"epoch": epoch + 1, **self._epoch_means, "epoch_time": time.perf_counter() - epoch_start})
                self.progress.history.append(end.metrics)  # the hooks complete it (last.pt saves it)
                for hook in self.hooks:
                    hook.after_epoch(self, end)
                barrier(self.world)
                if end.stop_reason:
                    self.progress.stop_reason = end.stop_reason
                    break
            else:
                self.progress.stop_reason = "completed"
            summary = run_summary(self, time.perf_counter() - started, images_seen)
        except KeyboardInterrupt:
            self.progress.stop_reason = "interrupted"
            if self.world.main:
                logger.warning("interrupted: %s holds the last completed epoch", self.out / LAST)
            summary = run_summary(self, time.perf_counter() - started, images_seen)
        finally:
            bar.close()
            for hook in self.hooks:
                hook.close()
        for hook in self.hooks:
            hook.after_train(self, summary)
        if self.world.main:
            write_summary(self.out / "summary.json", summary)
            print(format_summary(summary))
        close_world(self.world)
        return summary

    def _train_epoch(self, epoch: int, schedule: LRSchedule, bar: TrainProgress) -> int:
        cfg = self.config
        no_aug_start = cfg.augment.no_aug_start_epoch(cfg.epochs)
        if epoch >= no_aug_start:
            self.loader.close_mosaic()
        # L1 starts with the no-aug phase (YOLOX); the rotated reference's hook fires one epoch earlier
        if epoch >= no_aug_start - (1 if self.rotated else 0):
            self.criterion.use_l1 = True
        freeze = self.freeze_schedule.spec_at(epoch)
        apply_freeze(self.model, freeze)
        self.loader.set_epoch(epoch)
        self.net.train()
        set_frozen_bn_eval(self.model, freeze, all_bn=cfg.finetune.freeze_bn)
        bar.start_epoch(epoch + 1)
        watch = DataTimeWatch()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        seen = 0
        tick = time.perf_counter()
        for i, batch in enumerate(self.loader):
            t = epoch * self.iters_per_epoch + i
            data_time = time.perf_counter() - tick
            values = self._step(batch, t, i, schedule)
            compute_time = time.perf_counter() - tick - data_time
            seen += len(batch.indices) * self.world.size
            values |= {"data_time": data_time, "compute_time": compute_time, "images_per_s": len(batch.indices) * self.world.size / max(data_time + compute_time, 1e-9)}
            for key, value in values.items():
                if math.isfinite(value):  # grad_norm is NaN between accumulation steps, inf on skipped AMP steps
                    sums[key], counts[key] = sums.get(key, 0.0) + value, counts.get(key, 0) + 1
            if self.world.main:
                watch.add(data_time, compute_time)  # warns when loading is slower than compute
            bar.update(values)
            step = StepEnd(t + 1, epoch + 1, values)
            for hook in self.hooks:
                hook.after_step(self, step)
            tick = time.perf_counter()
        self.progress.iteration = (epoch + 1) * self.iters_per_epoch
        bar.end_epoch()
        self._epoch_means = {k: v / counts[k] for k, v in sums.items()}
        return seen

    def _step(self, batch, t: int, i: int, schedule: LRSchedule) -> dict[str, float]:  # noqa: ANN001 - TrainBatch
        cfg = self.config
        accumulate = cfg.optim.accumulate
        lr = schedule((t // self.iters_per_epoch) * self.steps_per_epoch + i // accumulate)
        set_lr(self.optimizer, lr)
        images = images_to_device(batch.images, self.device)
        labels = batch.targets.to(self.device, non_blocking=True)
        images, labels = resize_batch(images, labels, multiscale_size(cfg.multiscale, self.input_size, cfg.seed, t))
        images = images.contiguous(memory_format=LAYOUTS[cfg.memory_format])
        targets = Targets.from_padded(labels, box_dim=5 if self.rotated else 4)
        targets = dataclasses.replace(targets, classes=self.class_map[targets.classes])
        with self.amp.autocast():
            levels = self.net(images)
        losses = self.criterion([level.float() for level in levels], targets)
        if accumulate == 1:
            loss = losses["total"]
        else:  # the un-normalised sum; divided by the positives of all accumulated batches at the step
            loss = losses["total"] * losses["normalizer"]
            self._accumulated_positives = self._accumulated_positives + losses["positives"]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        grad_norm = float("nan")
        if (i + 1) % accumulate == 0 or i + 1 == self.iters_per_epoch:
            grad_norm = self._optimizer_step()
        numbers = torch.stack([losses[k].detach().float() for k in (*LOSS_TERMS, "num_fg", "num_gt")]).tolist()
        values = {"lr": lr, "loss": numbers[0]}
        values |= {f"loss_{k}": v for k, v in zip(LOSS_TERMS[1:], numbers[1:5])}
        values["num_fg"] = numbers[5] / max(numbers[6], 1.0)  # positives per object, as the reference logs
        values["grad_norm"] = grad_norm
        return values

    def _optimizer_step(self) -> float:
        """Normalise accumulated gradients, unscale, clip, step, zero the gradients, update the EMA;
        the total gradient norm.

        With ``optim.accumulate`` N, the gradients of N batches' un-normalised losses are divided
        by the positives of all N batches: the step equals that of one batch N times larger.
        """
        if self.config.optim.accumulate > 1:
            scale = 1.0 / torch.as_tensor(self._accumulated_positives).clamp(min=1)
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad.mul_(scale)
            self._accumulated_positives = 0.0
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.config.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"), foreach=True)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        return float(norm)

    # ------------------------------------------------------------------------------ run outputs
    def eval_model(self) -> YOLOX:
        """The model that is validated and saved: the EMA average (or the live model without EMA)."""
        return self.ema.module if self.ema is not None else self.model

    def checkpoint_meta(self, metrics: dict) -> dict:
        """What a run checkpoint records besides the weights: model, classes, preprocessing, config, progress."""
        return {
            "model": self.config.model,
            "class_names": self.class_names,
            "preprocess": PreprocessContract(self.input_size).to_dict(),
            "training": {
                "config": to_dict(self.config),
                "epoch": self.progress.epoch,
                "iteration": self.progress.iteration,
                "metrics": metrics,
                "best_metric": self.progress.best_metric,
                "best_epoch": self.progress.best_epoch,
            },
        }
