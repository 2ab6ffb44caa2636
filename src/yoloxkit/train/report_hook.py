"""The run's ``report.html``, refreshed after every validation, and its final evaluation page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import YoloxkitError
from ..files import without_nan, write_json
from .hooks import EpochEnd, Hook
from .runlog import METRICS_FILE, RunLog

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import Trainer

logger = logging.getLogger("yoloxkit")

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
            self._write(trainer, f"running: epoch {end.epoch} of {trainer.config.epochs} done", None)

    def after_train(self, trainer: Trainer, summary: dict) -> None:
        final = None
        try:
            final = self._final_evaluation(trainer)
        except (YoloxkitError, OSError) as exc:  # the run's own outputs are already safe
            logger.warning("final evaluation page not written: %s", exc)
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
