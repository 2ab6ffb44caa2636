"""yoloxkit: YOLOX object detectors with exact reference parity.

Quick start::

    from yoloxkit import Detector
    det = Detector.from_checkpoint("yolox_s.pth")
    for result in det.predict(["a.jpg", "b.jpg"]):
        print(result.to_dict())
"""

__version__ = "0.1.0"

from .detector import Detector  # noqa: E402
from .errors import YoloxkitError  # noqa: E402
from .structures import Boxes, BoxFormat, Detections  # noqa: E402

__all__ = ["Boxes", "BoxFormat", "Detections", "Detector", "YoloxkitError", "__version__"]
