"""Where training numbers go: ``metrics.csv``, TensorBoard events and optionally MLflow / W&B.

:class:`RunLog` fans every logged row out to its sinks. ``metrics.csv`` is the one record the
other outputs (curves, summary) are built from; TensorBoard (events under ``out/tensorboard``)
is on by default; ``mlflow`` and ``wandb`` are used only when asked for and installed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from ..errors import YoloxkitError
from ..files import atomic_write

SINKS = ("csv", "tensorboard", "mlflow", "wandb")
KEY_COLUMNS = ("scope", "epoch", "step")
SCOPES = ("step", "epoch")
METRICS_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


class _Sink(Protocol):
    def log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


def _format_value(value: float) -> str:
    """A CSV cell: integers as integers, floats to 8 significant digits (float32 round trip)."""
    if isinstance(value, int):  # bool is an int too
        return str(int(value))
    return format(float(value), ".8g")


def _parse_number(text: str, path: Path, line: int, column: str) -> float:
    try:
        return int(text) if column in ("epoch", "step") else float(text)
    except ValueError:
        raise YoloxkitError(f"{path}: line {line}, column {column!r}: {text!r} is not a number") from None


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and raw string rows of a metrics file; a last line cut short by a kill is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YoloxkitError(f"cannot read {path}: {exc.strerror or exc}") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    if header[: len(KEY_COLUMNS)] != list(KEY_COLUMNS):
        raise YoloxkitError(f"{path}: not a metrics file (the header must start with {','.join(KEY_COLUMNS)})")
    return header, [{k: v for k, v in row.items() if k is not None} for row in reader]


class CsvSink:
    """``metrics.csv``: appended and flushed row by row; rewritten atomically when it widens."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        self.columns: list[str] = []
        self._handle: io.TextIOBase | None = None
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.exists():
            header, rows = _read_rows(path)
            steps = [_parse_number(row["step"], path, line, "step") for line, row in enumerate(rows, start=2)]
            rows = [row for row, step in zip(rows, steps) if step <= resume_step]
            used = {key for row in rows for key, value in row.items() if value}
            self.columns = [name for name in header[len(KEY_COLUMNS) :] if name in used]
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        """Write header + ``rows`` atomically, then reopen the file for appending."""
        self.close()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, [*KEY_COLUMNS, *self.columns], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        with atomic_write(self.path) as handle:
            handle.write(buffer.getvalue().encode("utf-8"))
        try:
            self._handle = self.path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise YoloxkitError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None:
        new = [name for name in values if name not in self.columns]
        if new:
            self.close()
            _, rows = _read_rows(self.path)
            self.columns.extend(new)
            self._rewrite(rows)
        cells = [scope, str(epoch), str(step)]
        cells += [_format_value(values[name]) if name in values else "" for name in self.columns]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        self._handle.write(buffer.getvalue())
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def tensorboard_tag(scope: str, name: str) -> str:
    """TensorBoard tag of a column: grouped names stay (``val/mAP50``), others go under the scope."""
    if "/" in name:
        return name
    return f"train/{name}" if scope == "step" else f"epoch/{name}"


def _flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"a.b": "value"}`` (for trackers that take flat string parameters)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


class TensorBoardSink:
    """Scalar events under ``out/tensorboard`` (x axis: global step); the config as text."""

    def __init__(self, log_dir: Path, resume_step: int | None, config: Mapping | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        purge = None if resume_step is None else resume_step + 1  # hide the steps being redone
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge)
        if config:
            text = json.dumps(config, indent=2, sort_keys=True, default=str)
            self.writer.add_text("config", "\n".join(f"    {line}" for line in text.splitlines()))

    def log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(tensorboard_tag(scope, name), float(value), global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _import_tracker(name: str) -> object:
    try:
        return __import__(name)
    except ImportError:
        raise YoloxkitError(f"install {name} to use --logger {name} (pip install {name})") from None


def _finite(scope: str, values: Mapping[str, float]) -> dict[str, float]:
    """Tracker metrics: tagged like TensorBoard, non-finite values left out (trackers refuse them)."""
    return {tensorboard_tag(scope, k): float(v) for k, v in values.items() if math.isfinite(float(v))}


class MlflowSink:
    """An MLflow run (tracking URI from the usual ``MLFLOW_TRACKING_URI``, else ``./mlruns``)."""

    def __init__(self, run_name: str | None, config: Mapping | None) -> None:
        self.mlflow = _import_tracker("mlflow")
        self.mlflow.start_run(run_name=run_name)
        if config:
            self.mlflow.log_params(_flatten(config))

    def log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None:
        self.mlflow.log_metrics(_finite(scope, values), step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbSink:
    """A Weights & Biases run (project ``yoloxkit`` unless ``WANDB_PROJECT`` says otherwise)."""

    def __init__(self, out_dir: Path, run_name: str | None, config: Mapping | None) -> None:
        wandb = _import_tracker("wandb")
        project = os.environ.get("WANDB_PROJECT", "yoloxkit")
        self.run = wandb.init(project=project, name=run_name, config=dict(config or {}), dir=str(out_dir))

    def log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None:
        self.run.log(_finite(scope, values), step=step)

    def close(self) -> None:
        self.run.finish()


class RunLog:
    """metrics.csv (+ TensorBoard events under out/tensorboard, + optional mlflow/wandb).

    ``metrics.csv`` has the columns ``scope,epoch,step`` then one column per value name, in the
    order names first appear; when a new name arrives (validation metrics after the first epoch)
    the file is rewritten atomically with the wider header. Missing values are empty cells. Each
    row is flushed as it is written, so a killed run keeps every row logged before the kill.

    ``resume_step``: the run restarts after global step N; rows with ``step > N`` are dropped (and
    TensorBoard hides its events after N), so a resumed run's CSV equals an uninterrupted one's.
    Without it an existing ``metrics.csv`` in ``out_dir`` is replaced.
    """

    def __init__(
        self,
        out_dir: Path,
        sinks: Sequence[str] = ("csv", "tensorboard"),
        resume_step: int | None = None,
        run_name: str | None = None,
        config: dict | None = None,
    ) -> None:
        unknown = [name for name in sinks if name not in SINKS]
        if unknown:
            raise YoloxkitError(f"unknown logger {unknown[0]!r} (choose from {', '.join(SINKS)})")
        out_dir = Path(out_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise YoloxkitError(f"cannot create the run folder {out_dir}: {exc.strerror or exc}") from None
        self.out_dir = out_dir
        self.metrics_path = out_dir / METRICS_FILE
        self._sinks: list[_Sink] = []
        try:
            for name in dict.fromkeys(sinks):
                self._sinks.append(self._open(name, resume_step, run_name, config))
        except BaseException:
            self.close()
            raise

    def _open(self, name: str, resume_step: int | None, run_name: str | None, config: dict | None) -> _Sink:
        if name == "csv":
            return CsvSink(self.metrics_path, resume_step)
        if name == "tensorboard":
            return TensorBoardSink(self.out_dir / TENSORBOARD_DIR, resume_step, config)
        if name == "mlflow":
            return MlflowSink(run_name, config)
        return WandbSink(self.out_dir, run_name, config)

    def _log(self, scope: str, step: int, epoch: int, values: Mapping[str, float]) -> None:
        clash = [name for name in values if name in KEY_COLUMNS]
        if clash:
            raise YoloxkitError(f"metric name {clash[0]!r} is reserved for the {METRICS_FILE} key columns")
        for sink in self._sinks:
            sink.log(scope, int(step), int(epoch), values)

    def log_step(self, step: int, epoch: int, values: Mapping[str, float]) -> None:
        """Log one training step's values (``scope=step``) at global step ``step``."""
        self._log("step", step, epoch, values)

    def log_epoch(self, step: int, epoch: int, values: Mapping[str, float]) -> None:
        """Log one epoch's means and validation metrics (``scope=epoch``) at global step ``step``."""
        self._log("epoch", step, epoch, values)

    def close(self) -> None:
        """Close every sink (files, event writers, tracker runs); safe to call twice."""
        while self._sinks:
            self._sinks.pop().close()

    @staticmethod
    def read(path: Path) -> list[dict[str, float | str]]:
        """Parse a ``metrics.csv`` back: ``scope`` a string, ``epoch``/``step`` ints, values floats.

        Empty cells are left out of a row's dict (``row.get("val/mAP50")`` is ``None`` there).
        """
        path = Path(path)
        _, raw = _read_rows(path)
        rows: list[dict[str, float | str]] = []
        for line, row in enumerate(raw, start=2):
            scope = row["scope"]
            if scope not in SCOPES:
                raise YoloxkitError(f"{path}: line {line}: scope {scope!r} is not one of {', '.join(SCOPES)}")
            parsed: dict[str, float | str] = {"scope": scope}
            for name, text in row.items():
                if name != "scope" and text:
                    parsed[name] = _parse_number(text, path, line, name)
            rows.append(parsed)
        return rows
