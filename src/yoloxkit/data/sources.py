"""What ``yoloxkit predict SOURCE`` accepts: an image, a folder, a glob pattern or a video."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import YoloxkitError
from .images import IMAGE_SUFFIXES, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


@dataclass
class Frame:
    """One image to predict on, with the name it is reported under."""

    name: str
    image: np.ndarray
    video: str | None = None  # the video file it came from, if any


class Source:
    """A resolved SOURCE: list of image files or one video, with its length for progress bars."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.video: Path | None = None
        self.files: list[Path] = []
        path = Path(spec)
        if path.is_dir():
            self.files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise YoloxkitError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in folder {path}")
        elif path.is_file():
            if path.suffix.lower() in VIDEO_SUFFIXES:
                self.video = path
            else:
                self.files = [path]
        elif any(ch in spec for ch in "*?["):
            self.files = sorted(
                Path(p) for p in glob.glob(spec, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.files:
                raise YoloxkitError(f"no images match the pattern {spec}")
        else:
            raise YoloxkitError(f"source not found: {spec}")

    def __len__(self) -> int:
        if self.video is None:
            return len(self.files)
        capture = cv2.VideoCapture(str(self.video))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        return max(count, 0)

    @property
    def fps(self) -> float:
        """Frame rate of a video source (25 when unknown)."""
        if self.video is None:
            return 0.0
        capture = cv2.VideoCapture(str(self.video))
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        return fps if fps and fps > 0 else 25.0

    def __iter__(self) -> Iterator[Frame]:
        if self.video is None:
            for path in self.files:
                yield Frame(str(path), read_image(path))
            return
        capture = cv2.VideoCapture(str(self.video))
        if not capture.isOpened():
            raise YoloxkitError(f"cannot open video {self.video}")
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield Frame(f"{self.video}#frame={index:06d}", frame, str(self.video))
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise YoloxkitError(f"video {self.video} has no readable frames")
