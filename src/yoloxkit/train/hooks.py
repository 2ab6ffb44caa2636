"""What a run does around the optimisation: validation, checkpoints, early stopping, run logs.

:class:`~yoloxkit.train.trainer.Trainer` owns set-up and the training step; everything else is a
:class:`Hook` called at fixed points of :meth:`Trainer.fit`:

- ``before_train(trainer)`` once, before the first epoch (also of a resumed run);
- ``after_step(trainer, step)`` after every iteration, with its :class:`StepEnd`;
- ``after_epoch(trainer, end)`` after every epoch, in the order of ``trainer.hooks``; each hook may
  add to ``end.metrics``, set ``end.improved`` (a new best) or ``end.stop_reason`` (end the run);
- ``after_train(trainer, summary)`` once the run has ended normally or by Ctrl-C, before the
  summary is written; it may add to ``summary``;
- ``close()`` always, last, also when the run fails.

The default hooks (:func:`default_hooks`) run in this order: the child-signal guard
(:class:`ChildSignalHook`), validation (adds ``val/*``, judges
improvement), checkpoints (``last.pt``, ``best.pt``, ``epoch_<N>.pt``), run log (``metrics.csv``,
TensorBoard, plots at the end), ``report.html`` (:class:`ReportHook`) and early stopping. A new behaviour (k-fold bookkeeping, a report
refreshed every epoch, ...) is a new hook appended to ``trainer.hooks``, not an edit of ``fit``.
Hooks that write files run only in the main process.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import dump_yaml, to_dict
from ..files import without_nan, write_json, write_text
from .class_balance import class_loss_weights
from .curves import plot_curves
from .distributed import broadcast_object
from .progress import memory_mb
from .runlog import METRICS_FILE, RunLog
from .state import BEST, LAST, rotate_periodic, write_run_checkpoint
from .validate import Validator

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import Trainer

logger = logging.getLogger("yoloxkit")


@dataclass
class StepEnd:
    """One finished iteration: ``iteration`` counts from 1 over the whole run, ``epoch`` from 1."""

    iteration: int
    epoch: int
    values: dict[str, float]


@dataclass
class EpochEnd:
    """One finished epoch (``epoch`` counts from 1); hooks fill in what they measured or decided."""

    epoch: int
    metrics: dict[str, float]
    improved: bool = False
    stop_reason: str | None = None
    validated: bool = False


class Hook:
    """A no-op at every point; subclasses override the points they need."""

    def before_train(self, trainer: Trainer) -> None:
        """Called once before the first epoch."""

    def after_step(self, trainer: Trainer, step: StepEnd) -> None:
        """Called after every iteration."""

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        """Called after every epoch."""

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        """Called once when the run ends (completed, stopped early or interrupted)."""

    def close(self) -> None:
        """Release what the hook holds; always called, also when the run fails."""


class ChildSignalHook(Hook):
    """Give the process back the SIGCHLD handler it had before the run.

    PyTorch's DataLoader installs, the first time it starts worker processes, a SIGCHLD handler
    that stays for the life of the process and checks the loader's workers whenever any child
    process exits. After an in-process run (a notebook, a script that trains and then starts
    subprocesses), that handler would keep firing on children that are not the loader's; in a
    long-lived process one such call crashed the interpreter (SIGSEGV, found in the test suite).
    The handler is recorded when the trainer is built and restored when the run ends, however it
    ends. Signal handlers belong to the main thread: elsewhere this hook does nothing.
    """

    def __init__(self) -> None:
        self.main_thread = hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread()
        self.previous = signal.getsignal(signal.SIGCHLD) if self.main_thread else None

    def close(self) -> None:
        """Restore the handler recorded at construction (None: it was not set from Python)."""
        if self.main_thread:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL if self.previous is None else self.previous)


class ValidationHook(Hook):
    """Validate the EMA model every ``val.interval`` epochs, every epoch of the no-augmentation
    phase and after the last epoch; add ``val/*`` to the epoch's metrics and judge improvement
    of ``val.metric`` (by more than ``early_stop.min_delta``)."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    @staticmethod
    def due(trainer: Trainer, epoch: int) -> bool:
        """Whether epoch ``epoch`` (counted from 1) is validated."""
        cfg = trainer.config
        in_no_aug = epoch - 1 >= cfg.augment.no_aug_start_epoch(cfg.epochs)
        return epoch % cfg.val.interval == 0 or in_no_aug or epoch == cfg.epochs

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        if not self.due(trainer, end.epoch):
            return
        cfg, progress = trainer.config, trainer.progress
        scores = self.validator(trainer.eval_model(), trainer.device)
        end.metrics |= {f"val/{k}": v for k, v in scores.items()}
        end.validated = True
        end.improved = progress.improved(scores[cfg.val.metric], cfg.early_stop.min_delta)
        if not end.improved:
            progress.epochs_without_improvement = end.epoch - (progress.best_epoch or 0)


class CheckpointHook(Hook):
    """``last.pt`` (with the resume state) every epoch, ``best.pt`` on improvement, and
    ``epoch_<N>.pt`` every ``checkpoint.every`` epochs keeping the newest ``checkpoint.keep``."""

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        meta = trainer.checkpoint_meta(end.metrics)
        model = trainer.eval_model()
        write_run_checkpoint(trainer.out / LAST, model, meta, trainer.resume_state())
        if end.improved:
            write_run_checkpoint(trainer.out / BEST, model, meta)
        every, keep = trainer.config.checkpoint.every, trainer.config.checkpoint.keep
        if every and end.epoch % every == 0:
            write_run_checkpoint(rotate_periodic(trainer.out, end.epoch, keep), model, meta)


class RunLogHook(Hook):
    """``config.yaml`` at the start, step rows every ``log.interval`` iterations and a row per
    epoch in ``metrics.csv`` / TensorBoard / MLflow / W&B, curves as PNG at the end."""

    def __init__(self) -> None:
        self.log: RunLog | None = None

    def before_train(self, trainer: Trainer) -> None:
        cfg, out = trainer.config, trainer.out
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.yaml", dump_yaml(cfg))
        resume_step = trainer.progress.iteration if trainer.progress.epoch else None
        self.log = RunLog(out, cfg.log.sinks, resume_step, out.name, to_dict(cfg))

    def after_step(self, trainer: Trainer, step: StepEnd) -> None:
        if self.log is not None and step.iteration % trainer.config.log.interval == 0:
            self.log.log_step(step.iteration, step.epoch, step.values | {"memory_mb": memory_mb(trainer.device)})

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        if self.log is not None:
            self.log.log_epoch(trainer.progress.iteration, end.epoch, {k: v for k, v in end.metrics.items() if k != "epoch"})
        if "val/mAP50_95" in end.metrics:
            logger.info("epoch %d: val mAP50:95 %.4f, mAP50 %.4f", end.epoch, end.metrics["val/mAP50_95"], end.metrics["val/mAP50"])

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        self.close()
        csv = trainer.out / METRICS_FILE
        if trainer.config.log.plots and csv.exists():
            summary["plots"] = [str(p) for p in plot_curves(csv, trainer.out)]

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


class EarlyStoppingHook(Hook):
    """End the run when ``val.metric`` has not improved by more than ``early_stop.min_delta`` for
    ``early_stop.patience`` epochs (all processes stop together: the main one decides)."""

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        stop, progress = trainer.config.early_stop, trainer.progress
        reason = None
        if stop.patience and progress.best_epoch is not None and progress.epochs_without_improvement >= stop.patience:
            reason = (
                f"early_stopping: no val/{trainer.config.val.metric} improvement > {stop.min_delta} for "
                f"{progress.epochs_without_improvement} epochs (best {progress.best_metric:.4f} at epoch {progress.best_epoch})"
            )
        reason = broadcast_object(reason, trainer.world)
        if reason:
            end.stop_reason = reason


#: Sub-folder of the run with the final evaluation (metrics.json, report.html).
EVAL_FOLDER = "eval"


class ReportHook(Hook):
    """Write ``RUN/report.html`` (curves from ``metrics.csv``, the validations, the status) after
    each validation and at the end; at the end, also the full evaluation of the last validated
    model (axis-aligned models) into ``RUN/eval/`` (``metrics.json``, ``report.html``), linked from
    the run's page. Runs after the run log hook, so the page sees the epoch's row."""

    def __init__(self) -> None:
        self.validated_epoch: int | None = None

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        if end.validated:
            self.validated_epoch = end.epoch
            try:
                self._write(trainer, f"running: epoch {end.epoch} of {trainer.config.epochs} done", None)
            except Exception as exc:  # noqa: BLE001 - the page is refreshed next time; the run goes on
                logger.warning("report.html not refreshed: %s: %s", type(exc).__name__, exc)

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        final = None
        try:
            final = self._final_evaluation(trainer)
        except Exception as exc:  # noqa: BLE001 - a page must never fail a finished run
            logger.warning("final evaluation page not written: %s: %s", type(exc).__name__, exc)
            summary["report_error"] = f"{type(exc).__name__}: {exc}"
        status = f"finished: {summary.get('stop_reason', 'completed')} after {trainer.progress.epoch} epochs"
        summary["report"] = str(self._write(trainer, status, final))

    def _final_evaluation(self, trainer: Trainer) -> dict[str, Any] | None:
        validator = trainer.validator
        evaluator = getattr(validator, "last_evaluator", None)
        if evaluator is None or validator.rotated or self.validated_epoch is None:
            return None
        from ..report.evaluation import write_eval_report

        result = evaluator.compute()
        folder = trainer.out / EVAL_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "metrics.json", without_nan(result.to_dict()))
        split = str(trainer.config.loader.val_split)
        write_eval_report(result, folder, f"{trainer.out} (epoch {self.validated_epoch})", str(trainer.config.data), split)
        return {"epoch": self.validated_epoch, "split": split, "coco": result.coco, "page": f"{EVAL_FOLDER}/report.html"}

    def _write(self, trainer: Trainer, status: str, final: dict[str, Any] | None):
        from ..report.training import write_train_report

        csv = trainer.out / METRICS_FILE
        rows = RunLog.read(csv) if csv.exists() else []
        cfg, progress = trainer.config, trainer.progress
        run = {
            "model": cfg.model, "data": str(cfg.data), "out": str(trainer.out), "epoch": progress.epoch,
            "epochs": cfg.epochs, "status": status, "best_metric": progress.best_metric, "best_epoch": progress.best_epoch,
            "metric": f"val/{cfg.val.metric}", "classes": list(trainer.class_names),
        }  # fmt: skip
        return write_train_report(trainer.out, rows, run, final)


class ClassLossHook(Hook):
    """Sets ``config.loss`` on the trainer's criterion before the first epoch: class-imbalance
    weights from the training split's object counts (:mod:`yoloxkit.train.class_balance`) and label
    smoothing; reports both in ``summary.json`` (``loss_options``)."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}

    def before_train(self, trainer: Trainer) -> None:
        import numpy as np
        import torch

        cfg = trainer.config.loss
        model_classes = trainer.class_map.cpu().numpy()[trainer.loader.records.classes]
        counts = np.bincount(model_classes, minlength=len(trainer.class_names))
        weights = class_loss_weights(cfg.class_weights, counts, trainer.class_names, cfg.power, cfg.beta, cfg.manual)
        trainer.criterion.class_weights = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=trainer.device)
        trainer.criterion.label_smoothing = cfg.label_smoothing
        self.options = {"class_weights": cfg.class_weights, "label_smoothing": cfg.label_smoothing}
        if weights is not None:
            self.options["weights"] = {name: round(float(w), 4) for name, w, n in zip(trainer.class_names, weights, counts) if n}
            if trainer.world.main:
                logger.info("class weights (%s): %s", cfg.class_weights, ", ".join(f"{k} {v:.3g}" for k, v in self.options["weights"].items()))

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        summary["loss_options"] = self.options


def default_hooks(trainer: Trainer) -> list[Hook]:
    """The child-signal guard, validation (when the trainer has a validator), checkpoints, run log
    and the HTML report (main process only), early stopping (every process); the
    classification-loss options when set."""
    loss = trainer.config.loss
    hooks: list[Hook] = [ChildSignalHook()]
    if loss.class_weights != "none" or loss.label_smoothing:
        hooks.append(ClassLossHook())
    if trainer.validator is not None:
        hooks.append(ValidationHook(trainer.validator))
    if trainer.world.main:
        hooks += [CheckpointHook(), RunLogHook()]
        if trainer.config.log.report:
            hooks.append(ReportHook())
    hooks.append(EarlyStoppingHook())
    return hooks
