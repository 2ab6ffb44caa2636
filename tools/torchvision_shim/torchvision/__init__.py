"""Test-only stand-in for ``torchvision``.

The parity reference (``pixeltable-yolox``) imports ``torchvision.ops`` for NMS and box IoU.
PyPI's torchvision does not load beside the CPU torch used here, so the development
environment installs this package instead.  It implements torchvision's documented
semantics with a deliberately simple, loop-based algorithm, independent of yoloxkit's own
vectorised NMS, so that parity tests compare two separate implementations.
yoloxkit itself never imports torchvision.
"""

from . import ops

__version__ = "0.0.0+yoloxkit.shim"
__all__ = ["ops"]
