"""Training: the YOLOX recipe, checkpoints and exact resume, fine-tuning controls and run logs.

    from yoloxkit.train import Trainer, make_train_config

    summary = Trainer(make_train_config(data="bccd/", model="yolox-nano", epochs=30)).fit()
"""

from .config import TrainConfig, make_train_config
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "make_train_config"]
