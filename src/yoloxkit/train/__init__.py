"""Training: the YOLOX recipe, checkpoints and exact resume, fine-tuning controls and run logs.

    from yoloxkit.train import Trainer, make_train_config

    summary = Trainer(make_train_config(data="bccd/", model="yolox-nano", epochs=30)).fit()

    from yoloxkit.train import train_detector
    best = train_detector(Detector.from_pretrained("yolox-nano"), "bccd/", epochs=30, batch=16)
"""

from .config import TrainConfig, make_train_config
from .detector import train_detector
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "make_train_config", "train_detector"]
