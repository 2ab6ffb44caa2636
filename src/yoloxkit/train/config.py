"""Every training setting in one typed config, with the reference's recipe as the defaults.

Sections: ``optim`` (SGD, schedule, clipping, accumulation), ``ema``, ``multiscale``,
``augment`` (:class:`~yoloxkit.augment.AugmentConfig`, per-model reference values, including
``input_size`` and ``no_aug_epochs``), ``loader`` (workers, caches, sampling), ``val``,
``checkpoint``, ``early_stop``, ``finetune``, ``loss`` and ``log``. Build one with :func:`make_train_config`
(defaults for the model, a YAML file, ``key=value`` overrides); ``yoloxkit train --print-config``
prints the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..augment.config import AugmentConfig
from ..config import apply_overrides, from_dict, merge, read_yaml, to_dict
from ..errors import YoloxkitError
from ..models.registry import canonical_name, get_spec


@dataclass(frozen=True)
class OptimConfig:
    """SGD with the reference's parameter groups and the "yoloxwarmcos" schedule (per iteration)."""

    basic_lr_per_img: float = 0.01 / 64  # lr = basic_lr_per_img * total batch ...
    lr: float | None = None  # ... unless set here (absolute learning rate)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # on conv/linear weights only (not on BN weights or biases)
    warmup_epochs: float = 5.0  # quadratic warm-up from warmup_lr
    warmup_lr: float = 0.0
    min_lr_ratio: float = 0.05  # cosine ends at min_lr_ratio * lr, held for the no-aug epochs
    scheduler: Literal["yoloxwarmcos", "cos", "constant"] = "yoloxwarmcos"
    lr_mult: dict[str, float] = field(default_factory=dict)  # per part: backbone / neck / head
    grad_clip: float | None = None  # max total gradient norm (None: no clipping, as the reference)
    accumulate: int = 1  # optimizer step every N batches (effective batch = batch * N: LR, schedule and loss follow it)

    def __post_init__(self) -> None:
        if self.basic_lr_per_img <= 0 or (self.lr is not None and self.lr <= 0):
            raise YoloxkitError("basic_lr_per_img and lr must be > 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise YoloxkitError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.warmup_epochs < 0 or self.warmup_lr < 0:
            raise YoloxkitError("warmup_epochs and warmup_lr must be >= 0")
        if self.accumulate < 1:
            raise YoloxkitError(f"accumulate must be >= 1, got {self.accumulate}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise YoloxkitError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        bad = [k for k in self.lr_mult if k not in ("backbone", "neck", "head")]
        if bad or any(v < 0 for v in self.lr_mult.values()):
            raise YoloxkitError(f"lr_mult takes backbone/neck/head: multiplier >= 0, got {self.lr_mult}")


@dataclass(frozen=True)
class EmaConfig:
    """Exponential moving average of the weights: decay * (1 - exp(-updates / ramp))."""

    enabled: bool = True
    decay: float = 0.9998
    ramp: float = 2000.0

    def __post_init__(self) -> None:
        if not 0 < self.decay < 1 or self.ramp <= 0:
            raise YoloxkitError(f"decay must lie in (0, 1) and ramp be > 0, got {self.decay}, {self.ramp}")


@dataclass(frozen=True)
class MultiscaleConfig:
    """Random input size every ``every`` iterations: 32 * randint(size/32 - range, size/32 + range)."""

    enabled: bool = True
    every: int = 10
    range: int = 5
    random_size: tuple[int, int] | None = None  # explicit (low, high) in units of 32, e.g. (10, 20)

    def __post_init__(self) -> None:
        if self.every < 1 or self.range < 0:
            raise YoloxkitError("every must be >= 1 and range >= 0")
        if self.random_size is not None and not 1 <= self.random_size[0] <= self.random_size[1]:
            raise YoloxkitError(f"random_size must be (low, high) with 1 <= low <= high, got {self.random_size}")


@dataclass(frozen=True)
class LoadingConfig:
    """Where batches come from: splits, loader workers, caches and sampling."""

    train_split: str = "train"
    val_split: str | None = "val"  # None: no validation
    workers: int = 4
    cache: Literal["none", "ram", "disk"] = "none"
    cache_dir: Path | None = None
    skip_bad_images: bool = False
    sampling: Literal["uniform", "repeat_factor", "class_aware"] = "uniform"
    repeat_threshold: float = 0.1  # repeat-factor sampling: classes rarer than this share are repeated

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise YoloxkitError(f"workers must be >= 0, got {self.workers}")


@dataclass(frozen=True)
class ValConfig:
    """Validation of the EMA model during training (the reference's in-training settings)."""

    interval: int = 10  # every N epochs, and every epoch in the no-aug phase
    conf: float = 0.01
    iou: float = 0.65
    batch: int = 8
    metric: Literal["mAP50_95", "mAP50"] = "mAP50_95"  # selects best.pt
    loss: bool = True  # also the loss on the split (the usual overfitting signal; axis-aligned models)
    per_class: bool = True  # also each class's AP50:95 (metrics.csv columns val/AP50_95/<class>)

    def __post_init__(self) -> None:
        if self.interval < 1 or self.batch < 1:
            raise YoloxkitError("interval and batch must be >= 1")


@dataclass(frozen=True)
class CheckpointConfig:
    """``last.pt`` every epoch, ``best.pt`` on improvement, ``epoch_N.pt`` every N keeping the newest K."""

    every: int = 0  # 0: no periodic checkpoints
    keep: int = 3

    def __post_init__(self) -> None:
        if self.every < 0 or self.keep < 1:
            raise YoloxkitError("every must be >= 0 and keep >= 1")


@dataclass(frozen=True)
class EarlyStopConfig:
    """Stop when the validation metric has not improved by more than ``min_delta`` for ``patience`` epochs."""

    patience: int = 0  # 0: never stop early
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 0 or self.min_delta < 0:
            raise YoloxkitError("patience and min_delta must be >= 0")


@dataclass(frozen=True)
class FinetuneConfig:
    """How ``weights`` are loaded and which parts train (see docs/finetuning.md)."""

    class_mode: Literal["new", "append"] = "new"
    freeze: str = "none"  # none | backbone | backbone+neck | stages:N
    unfreeze: str | None = None  # progressive schedule, e.g. "backbone+neck@0,backbone@3,none@6"
    min_match: float = 0.5  # refuse weights matching less of the model than this share ...
    force: bool = False  # ... unless forced
    freeze_bn: bool = False  # every BatchNorm uses (and keeps) its running statistics
    rescale_convs: float = 3.0  # conv weights grown > this x their initial norm are rescaled to it (0: off)
    pseudo_labels: float = 0.0  # append mode: label the old classes' confident detections (score >= this; 0: off)

    def __post_init__(self) -> None:
        if not 0.0 <= self.pseudo_labels <= 1.0:
            raise YoloxkitError(f"finetune.pseudo_labels must lie in [0, 1], got {self.pseudo_labels}")


@dataclass(frozen=True)
class LossConfig:
    """Options of the classification loss (off by default: the reference's loss; docs/training.md)."""

    class_weights: Literal["none", "inverse", "effective", "manual"] = "none"
    power: float = 0.5  # inverse: weight ~ (1 / instances) ** power
    beta: float = 0.999  # effective: weight ~ (1 - beta) / (1 - beta ** instances) (Cui et al. 2019)
    manual: dict[str, float] = field(default_factory=dict)  # manual: class name -> weight (others 1)
    label_smoothing: float = 0.0  # class targets t -> t (1 - eps) + eps / 2

    def __post_init__(self) -> None:
        if self.power < 0 or not 0 < self.beta < 1 or not 0 <= self.label_smoothing < 1:
            raise YoloxkitError(f"loss: power must be >= 0, beta in (0, 1), label_smoothing in [0, 1); got {self.power}, {self.beta}, {self.label_smoothing}")
        if any(not weight > 0 for weight in self.manual.values()):
            raise YoloxkitError(f"loss.manual: class weights must be > 0, got {self.manual}")


@dataclass(frozen=True)
class LogConfig:
    """What the run reports: metrics.csv always, TensorBoard by default, a progress bar."""

    sinks: tuple[str, ...] = ("csv", "tensorboard")
    interval: int = 10  # a step row every N iterations
    progress: bool = True
    plots: bool = True
    report: bool = True  # RUN/report.html after each validation, RUN/eval/ at the end

    def __post_init__(self) -> None:
        unknown = [s for s in self.sinks if s not in ("csv", "tensorboard", "mlflow", "wandb")]
        if unknown:
            raise YoloxkitError(f"sinks: unknown {unknown}; choose from csv, tensorboard, mlflow, wandb")
        if self.interval < 1:
            raise YoloxkitError(f"interval must be >= 1, got {self.interval}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    data: str = ""  # a dataset as `yoloxkit data` names it (folder, data.yaml, COCO JSON, split manifest)
    model: str = "yolox-s"
    weights: str | None = None  # a checkpoint, or "pretrained" for the official COCO weights
    out: Path = Path("runs/train")
    epochs: int = 300
    batch: int = 64  # images per optimizer step over all processes (before accumulation)
    device: str = "auto"
    seed: int = 0
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: fp16 + scaler on CUDA, float32 on CPU
    memory_format: Literal["auto", "channels_last", "nchw"] = "auto"  # auto: measured per CPU (train/layout.py)
    assigner: Literal["original", "megvii2023"] = "original"  # SimOTA of the released weights
    sync_bn: bool = False
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    multiscale: MultiscaleConfig = field(default_factory=MultiscaleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loader: LoadingConfig = field(default_factory=LoadingConfig)
    val: ValConfig = field(default_factory=ValConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1:
            raise YoloxkitError(f"epochs and batch must be >= 1, got {self.epochs}, {self.batch}")
        get_spec(self.model)  # an unknown model name fails here, with the list of known ones

    @property
    def effective_batch(self) -> int:
        """Images per optimizer step: ``batch`` (over all processes) x ``optim.accumulate``."""
        return self.batch * self.optim.accumulate

    def base_lr(self) -> float:
        """The learning rate the schedule starts from (before part multipliers): ``optim.lr``, else
        ``basic_lr_per_img`` x the effective batch (so batch 16 x 4 accumulated trains as batch 64)."""
        return self.optim.lr if self.optim.lr is not None else self.optim.basic_lr_per_img * self.effective_batch

    def with_epochs(self, epochs: int) -> TrainConfig:
        """The same run planned for ``epochs`` epochs (``--resume --epochs N`` extends a run)."""
        return replace(self, epochs=epochs)


def model_defaults(model: str) -> dict[str, Any]:
    """The reference's settings for ``model`` as plain data (yolox-nano/tiny: 416, mosaic 0.5..1.5, ...)."""
    name = canonical_name(model)
    if get_spec(name).rotated:
        return to_dict(_rotated_recipe(name))
    multiscale = MultiscaleConfig(random_size=(10, 20)) if name in ("yolox-nano", "yolox-tiny") else MultiscaleConfig()
    return to_dict(TrainConfig(model=name, augment=AugmentConfig.for_model(name), multiscale=multiscale))


def _rotated_recipe(name: str) -> TrainConfig:
    """ai4rs ``rotated_yolox_s_300e_dota_le90`` (spec rotated-yolox.md section 4): batch 8 (lr 0.00125),
    cosine towards the absolute eta_min 0.0005 (= 0.4 x lr at batch 8), clipping at norm 35, EMA
    momentum 1e-4, fixed 1024 input, rotated NMS 0.1 for validation, checkpoints every 10 epochs
    keeping 8. (The reference's EMA is mmdet's ExpMomentumEMA; ours keeps the YOLOX ramp shape.)"""
    return TrainConfig(
        model=name,
        batch=8,
        augment=AugmentConfig.for_model(name),
        multiscale=MultiscaleConfig(enabled=False),
        optim=OptimConfig(min_lr_ratio=0.4, grad_clip=35.0),
        ema=EmaConfig(decay=0.9999),
        val=ValConfig(iou=0.1),
        checkpoint=CheckpointConfig(every=10, keep=8),
    )


def finetune_defaults() -> dict[str, Any]:
    """The good-practice settings of a fine-tune (:data:`yoloxkit.train.finetune.FINETUNE_DEFAULTS`) as config data."""
    from .finetune import FINETUNE_DEFAULTS as d

    return {
        "epochs": d["epochs"],
        "optim": {"basic_lr_per_img": d["basic_lr_per_img"], "warmup_epochs": d["warmup_epochs"]},
        "augment": {"no_aug_epochs": d["no_aug_epochs"]},
        "finetune": {"freeze": d["freeze"]},
        "ema": {"decay": d["ema_decay"]},
        "val": {"interval": d["val_interval"]},
        "early_stop": {"patience": d["patience"]},
    }


#: Built-in recipes: ``recipes/<name>.yaml``, usable wherever a config file is (``--config <name>``).
RECIPES = Path(__file__).with_name("recipes")


def recipe_names() -> list[str]:
    """Names of the built-in recipes (e.g. ``rotated-yolox-s-dota``)."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A YAML config file, or the file of the built-in recipe of that name."""
    given = Path(path)
    if given.is_file():
        return given
    builtin = RECIPES / f"{path}.yaml"
    if builtin.is_file():
        return builtin
    raise YoloxkitError(f"config: no file {path} and no built-in recipe of that name (built-in: {', '.join(recipe_names())})")


def make_train_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), **fields: Any
) -> TrainConfig:
    """Defaults for the chosen model, then the YAML file, then ``fields`` (top-level), then ``overrides``.

    ``path`` is a YAML file or a built-in recipe name (:func:`recipe_names`).

    The model is read first (from the overrides, the fields or the file) so that its reference
    settings are the starting point; with ``weights`` the fine-tuning defaults (50 epochs,
    validation every epoch, early stopping, short warm-up and no-aug phase, see
    docs/finetuning.md) replace the from-scratch ones.
    """
    data = read_yaml(resolve_config_path(path)) if path is not None else {}
    data = merge(data, {k: to_dict(v) for k, v in fields.items() if v is not None})
    data = apply_overrides(data, overrides)
    model = data.get("model", TrainConfig.model)
    if not isinstance(model, str):
        raise YoloxkitError(f"model: expected a model name, got {model!r}")
    try:
        defaults = model_defaults(model)
    except YoloxkitError as exc:
        raise YoloxkitError(f"model: {exc}") from None
    data["model"] = canonical_name(model)
    if data.get("weights"):
        defaults = merge(defaults, finetune_defaults())
    if "input_size" in data.get("augment", {}) and "random_size" not in data.get("multiscale", {}):
        defaults["multiscale"]["random_size"] = None  # the reference's absolute range fits its own size only
    return from_dict(TrainConfig, merge(defaults, data))
