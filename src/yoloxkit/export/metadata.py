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

Rotated models (Rotated YOLOX) add three keys and write ``format_version`` ``"2"``, so that a
yoloxkit that does not know them refuses the file instead of reading its rboxes as boxes:

``box_type``          ``rbox`` (absent, i.e. ``hbb``, for axis-aligned models)
``angle_version``     ``le90``: angles in radians in ``[-pi/2, pi/2)``
``postprocess``       JSON ``{"nms": "rotated", "where": "host", "conf": 0.01, "iou": 0.1}``
                      (:class:`HostPostprocess`): the graph ends at the decoded ``[B, N, 6 + C]``;
                      the runtime applies :func:`yoloxkit.ops.rotated_postprocess` (class-aware
                      exact rotated NMS, IoU >= ``iou``); the thresholds are the reference's test
                      settings, used by the parity check and as ``ExportedDetector``'s default IoU
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import __version__
from ..data.preprocess import PreprocessContract
from ..errors import YoloxkitError
from ..ops import ROTATED_CONF, ROTATED_NMS_IOU
from .nms import NMSSettings

FORMAT = "yoloxkit-export"
#: Version written for rotated exports; axis-aligned exports keep version 1 (their keys are unchanged).
FORMAT_VERSION = 2
OUTPUT_KINDS = ("decoded", "raw", "nms")
#: ``hbb``: axis-aligned YOLOX (cx, cy, w, h); ``rbox``: Rotated YOLOX (cx, cy, w, h, angle).
BOX_TYPES = ("hbb", "rbox")
#: Arithmetic precisions of an export (see ``docs/deployment.md``).
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class HostPostprocess:
    """The postprocessing a rotated export leaves to the runtime (metadata key ``postprocess``).

    ``nms``: ``rotated`` (class-aware exact rotated NMS, :func:`yoloxkit.ops.rotated_postprocess`);
    ``where``: ``host`` (after the graph). The defaults ``conf`` / ``iou`` are the reference's test
    settings (ai4rs rotated_yolox ``test_cfg``).
    """

    conf: float = ROTATED_CONF
    iou: float = ROTATED_NMS_IOU
    nms: str = "rotated"
    where: str = "host"

    def __post_init__(self) -> None:
        if self.nms != "rotated":
            raise YoloxkitError(f"postprocess nms must be 'rotated' (the only one yoloxkit applies), got {self.nms!r}")
        if self.where != "host":
            raise YoloxkitError(f"postprocess where must be 'host' (rotated NMS is not put in graphs), got {self.where!r}")
        if not (0.0 <= self.conf <= 1.0 and 0.0 <= self.iou <= 1.0):
            raise YoloxkitError(f"postprocess conf and iou must lie in [0, 1], got conf={self.conf}, iou={self.iou}")

    def to_dict(self) -> dict[str, str | float]:
        """JSON-ready form (key order as written in the files)."""
        return {"nms": self.nms, "where": self.where, "conf": self.conf, "iou": self.iou}


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
    box_type: str = "hbb"
    postprocess: HostPostprocess | None = None  # rotated exports: filled with the defaults when not given
    yoloxkit_version: str = __version__
    class_conf: dict[str, float] = field(default_factory=dict)  # per-class score thresholds of the checkpoint

    def __post_init__(self) -> None:
        if self.outputs not in OUTPUT_KINDS:
            raise YoloxkitError(f"outputs must be one of {', '.join(OUTPUT_KINDS)}, got {self.outputs!r}")
        if (self.outputs == "nms") != (self.nms is not None):
            raise YoloxkitError("NMS settings are given exactly when the outputs are 'nms'")
        if self.precision not in PRECISIONS:
            raise YoloxkitError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.box_type not in BOX_TYPES:
            raise YoloxkitError(f"box_type must be one of {', '.join(BOX_TYPES)}, got {self.box_type!r}")
        if self.rotated and self.nms is not None:
            raise YoloxkitError("rotated exports have no NMS in the graph (it runs on the host)")
        if self.postprocess is not None and not self.rotated:
            raise YoloxkitError("host postprocess settings are written for rotated exports only")
        if self.rotated and self.postprocess is None:
            object.__setattr__(self, "postprocess", HostPostprocess())  # frozen: set once, here

    @property
    def rotated(self) -> bool:
        """Whether the model predicts rotated boxes (rbox ``cx, cy, w, h, angle``, le90)."""
        return self.box_type == "rbox"

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the exported graph's example input."""
        return self.contract.input_size

    def to_strings(self) -> dict[str, str]:
        """The string entries written into the model file."""
        entries = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION if self.rotated else 1),
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
        if self.class_conf:
            entries["class_conf"] = json.dumps(self.class_conf)
        if self.rotated:
            entries |= {
                "box_type": self.box_type,
                "angle_version": "le90",
                "postprocess": json.dumps(self.postprocess.to_dict()),
            }
        return entries

    @classmethod
    def from_strings(cls, entries: Mapping[str, str], source: str = "model") -> "ExportMetadata":
        """Inverse of :meth:`to_strings`; a file that yoloxkit did not export, or whose values are
        invalid, is refused with an error naming ``source``."""
        if entries.get("format") != FORMAT:
            raise YoloxkitError(
                f"{source} carries no yoloxkit export metadata (was it exported by `yoloxkit export`?)"
            )
        if int(entries.get("format_version", "0")) > FORMAT_VERSION:
            raise YoloxkitError(
                f"{source} was exported by a newer yoloxkit ({entries.get('yoloxkit_version')}); upgrade to read it"
            )
        if entries.get("box_type") == "rbox" and entries.get("angle_version") != "le90":
            raise YoloxkitError(f"{source}: rotated export with angle version {entries.get('angle_version')!r}; yoloxkit reads le90")
        try:
            nms = json.loads(entries["nms"])
            rotated = entries.get("box_type") == "rbox"
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
                box_type=entries.get("box_type", "hbb"),
                postprocess=HostPostprocess(**json.loads(entries["postprocess"])) if rotated else None,
                yoloxkit_version=entries["yoloxkit_version"],
                class_conf={str(k): float(v) for k, v in json.loads(entries.get("class_conf", "{}")).items()},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise YoloxkitError(f"{source}: damaged yoloxkit export metadata ({type(exc).__name__}: {exc})") from None
        except YoloxkitError as exc:
            raise YoloxkitError(f"{source}: {exc}") from None
