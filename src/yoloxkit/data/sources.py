"""What ``yoloxkit predict SOURCE`` accepts: an image, a folder, a glob pattern or a video."""

from __future__ import annotations

import glob
import itertools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import YoloxkitError
from ..files import opencv_path
from .images import IMAGE_SUFFIXES, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")

#: The image bundled with the package (the default of checks that need one and were given none).
DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "demo.jpg"


@dataclass
class Frame:
    """One image to predict on, with the name it is reported under."""

    name: str
    image: np.ndarray
    video: str | None = None  # the video file it came from, if any
    stem: str = ""  # name for per-image outputs, without suffix (may contain "/"); default: file stem

    def __post_init__(self) -> None:
        if not self.stem:
            self.stem = Path(self.name).stem


def output_stems(files: list[Path]) -> list[str]:
    """Unique, suffix-less output names for image files, so that no two outputs collide.

    Names are paths relative to the files' common folder (``sub/a`` for ``root/sub/a.jpg``);
    files that differ only by suffix (``a.jpg``, ``a.png``) keep it (``a_jpg``, ``a_png``).
    """
    if not files:
        return []
    absolute = [Path(os.path.abspath(p)) for p in files]
    root = Path(os.path.commonpath([p.parent for p in absolute]))
    stems = [p.relative_to(root).with_suffix("").as_posix() for p in absolute]
    counts = Counter(stems)
    return [stem if counts[stem] == 1 else f"{stem}_{p.suffix[1:]}" for stem, p in zip(stems, absolute)]


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
        capture = cv2.VideoCapture(opencv_path(self.video))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        return max(count, 0)

    @property
    def fps(self) -> float:
        """Frame rate of a video source (25 when unknown)."""
        if self.video is None:
            return 0.0
        capture = cv2.VideoCapture(opencv_path(self.video))
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        return fps if fps and fps > 0 else 25.0

    @property
    def inputs(self) -> list[Path]:
        """The files read: outputs must never be written over them."""
        return [self.video] if self.video is not None else list(self.files)

    @property
    def folders(self) -> list[Path]:
        """A folder SOURCE (read recursively): outputs must not be written inside it."""
        path = Path(self.spec)
        return [path] if self.video is None and path.is_dir() else []

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, skipped: list[tuple[str, str]] | None = None) -> Iterator[Frame]:
        """The frames in order. An unreadable image raises a YoloxkitError naming it, unless
        ``skipped`` is given: then ``(file, cause)`` is appended to it and the image passed over."""
        if self.video is None:
            for path, stem in zip(self.files, output_stems(self.files)):
                try:
                    image = read_image(path)
                except YoloxkitError as exc:
                    if skipped is None:
                        raise
                    skipped.append((str(path), str(exc)))
                    continue
                yield Frame(str(path), image, stem=stem)
            return
        capture = cv2.VideoCapture(opencv_path(self.video))
        if not capture.isOpened():
            raise YoloxkitError(f"cannot open video {self.video}")
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield Frame(f"{self.video}#frame={index:06d}", frame, str(self.video), stem=f"{index:06d}")
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise YoloxkitError(f"video {self.video} has no readable frames")


def load_images(source: str | Path | None, count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR images from ``source`` (image, folder, glob or video, in that order);
    ``None``: the bundled demo image (one image)."""
    if count < 1:
        raise YoloxkitError(f"at least one image is needed, got count {count}")
    spec = str(source) if source is not None else str(DEMO_IMAGE)
    images = [frame.image for frame in itertools.islice(Source(spec), count)]
    if not images:
        raise YoloxkitError(f"no images in {spec}")
    return images
