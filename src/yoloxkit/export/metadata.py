"""What an exported model says about itself: written into the ONNX file and the OpenVINO IR.

Every entry is a string (ONNX ``metadata_props`` and OpenVINO ``rt_info`` both hold strings);
structured values are JSON. The keys:

``format``            ``"yoloxkit-export"``; ``format_version``: ``"1"``
``yoloxkit_version``  the version that exported it
``model``             ``yolox-s`` ...
``class_names``       JSON list, index = class id
``input_size``        JSON ``[height, width]`` the graph was exported (and checked) at
``preprocess``        JSON :class:`~yoloxkit.data.preprocess.PreprocessContract`
``outputs``           ``decoded`` | ``raw`` | ``nms`` (see ``docs/deployment.md``)
``nms``               JSON :class:`~yoloxkit.export.nms.NMSSettings`, or ``null``
``dynamic``           ``"true"`` when batch, height and width are dynamic
``batch``             the static batch size (the example batch when dynamic)
``precision``         ``fp32`` | ``fp16`` | ``bf16`` (OpenVINO) | ``int8``
``strides``           JSON list of the head's strides
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .. import __version__
from ..data.preprocess import PreprocessContract
from ..errors import YoloxkitError
from .nms import NMSSettings

FORMAT = "yoloxkit-export"
FORMAT_VERSION = 1
OUTPUT_KINDS = ("decoded", "raw", "nms")
#: Arithmetic precisions of an export (see ``docs/deployment.md``).
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class ExportMetadata:
    """The self-description of an exported model (see the module docstring for the keys)."""

    model: str
    class_names: tuple[str, ...]
    contract: PreprocessContract
    outputs: str = "decoded"
    nms: NMSSettings | None = None
    dynamic: bool = False
    batch: int = 1
    precision: str = "fp32"
    strides: tuple[int, ...] = (8, 16, 32)
    yoloxkit_version: str = __version__

    def __post_init__(self) -> None:
        if self.outputs not in OUTPUT_KINDS:
            raise YoloxkitError(f"outputs must be one of {', '.join(OUTPUT_KINDS)}, got {self.outputs!r}")
        if (self.outputs == "nms") != (self.nms is not None):
            raise YoloxkitError("NMS settings are given exactly when the outputs are 'nms'")
        if self.precision not in PRECISIONS:
            raise YoloxkitError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the exported graph's example input."""
        return self.contract.input_size

    def to_strings(self) -> dict[str, str]:
        """The string entries written into the model file."""
        return {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "yoloxkit_version": self.yoloxkit_version,
            "model": self.model,
            "class_names": json.dumps(list(self.class_names)),
            "input_size": json.dumps(list(self.input_size)),
            "preprocess": json.dumps(self.contract.to_dict()),
            "outputs": self.outputs,
            "nms": json.dumps(self.nms.to_dict() if self.nms else None),
            "dynamic": "true" if self.dynamic else "false",
            "batch": str(self.batch),
            "precision": self.precision,
            "strides": json.dumps(list(self.strides)),
        }

    @classmethod
    def from_strings(cls, entries: Mapping[str, str], source: str = "model") -> "ExportMetadata":
        """Inverse of :meth:`to_strings`; a file that yoloxkit did not export is refused by name."""
        if entries.get("format") != FORMAT:
            raise YoloxkitError(
                f"{source} carries no yoloxkit export metadata (was it exported by `yoloxkit export`?)"
            )
        if int(entries.get("format_version", "0")) > FORMAT_VERSION:
            raise YoloxkitError(
                f"{source} was exported by a newer yoloxkit ({entries.get('yoloxkit_version')}); upgrade to read it"
            )
        try:
            nms = json.loads(entries["nms"])
            return cls(
                model=entries["model"],
                class_names=tuple(json.loads(entries["class_names"])),
                contract=PreprocessContract.from_dict(json.loads(entries["preprocess"])),
                outputs=entries["outputs"],
                nms=NMSSettings(**nms) if nms else None,
                dynamic=entries["dynamic"] == "true",
                batch=int(entries["batch"]),
                precision=entries["precision"],
                strides=tuple(json.loads(entries["strides"])),
                yoloxkit_version=entries["yoloxkit_version"],
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise YoloxkitError(f"{source}: damaged yoloxkit export metadata ({type(exc).__name__}: {exc})") from None
