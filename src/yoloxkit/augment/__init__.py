"""The reference's YOLOX training augmentation on yoloxkit's box type (axis-aligned boxes and polygons),
and the Rotated YOLOX recipe (``AugmentConfig.for_model("rotated-yolox-s")``) in the same pipeline.

Typical use::

    from yoloxkit.augment import AugmentConfig, TrainPipeline
    pipeline = TrainPipeline(source, AugmentConfig.for_model("yolox-s"))
    image, targets = pipeline(index, np.random.default_rng(0), mosaic=True)

``source`` is any :class:`SampleSource` (``yoloxkit.loader`` builds one from a dataset split).
"""

from .config import AugmentConfig
from .pipeline import TrainPipeline, letterbox_sample
from .sample import Sample, SampleSource

__all__ = ["AugmentConfig", "Sample", "SampleSource", "TrainPipeline", "letterbox_sample"]
