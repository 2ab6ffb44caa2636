"""Download of the official pretrained weights into a local cache, with checksum checks.

Cache folder: ``$YOLOXKIT_HOME/weights`` (default ``~/.cache/yoloxkit/weights``). A mirror of
the release files can be named with ``$YOLOXKIT_WEIGHTS_URL`` (the file name is appended).

Checksums: MMDetection publishes the first 8 hex digits of each file's SHA-256 in its file
names, and those are verified. Megvii's release page publishes no checksum; for those files
the SHA-256 seen at the first download is recorded beside the file (``.sha256``) and every
later use verifies the cached file against it, so a truncated or altered cache is detected.
Downloads go to a temporary file and are renamed into place only after verification.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .errors import YoloxkitError
from .files import atomic_write, write_text
from .models import canonical_name

MEGVII_RELEASE = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/"
MMDET_RELEASE = "https://download.openmmlab.com/mmdetection/v2.0/yolox/"


@dataclass(frozen=True)
class WeightsFile:
    """One downloadable weights file and what is known about its content."""

    url: str
    sha256: str | None = None  # full digest when published
    sha256_prefix: str | None = None  # leading digits when published (MMDetection convention)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _mmdet(config: str, stamp: str) -> WeightsFile:
    name = f"{config}_{stamp}.pth"
    return WeightsFile(f"{MMDET_RELEASE}{config}/{name}", sha256_prefix=stamp.rsplit("-", 1)[1])


PRETRAINED: dict[str, dict[str, WeightsFile]] = {
    "megvii": {
        f"yolox-{size}": WeightsFile(f"{MEGVII_RELEASE}yolox_{size}.pth")
        for size in ("nano", "tiny", "s", "m", "l", "x")
    },
    "mmdet": {
        "yolox-tiny": _mmdet("yolox_tiny_8x8_300e_coco", "20210806_234250-4ff3b67e"),
        "yolox-s": _mmdet("yolox_s_8x8_300e_coco", "20211121_095711-4592a793"),
        "yolox-l": _mmdet("yolox_l_8x8_300e_coco", "20211126_140236-d3bd2b23"),
        "yolox-x": _mmdet("yolox_x_8x8_300e_coco", "20211126_140254-1ef88d67"),
    },
}


def home_dir() -> Path:
    """yoloxkit's own folder: ``$YOLOXKIT_HOME``, default ``~/.cache/yoloxkit``."""
    return Path(os.environ.get("YOLOXKIT_HOME") or Path.home() / ".cache" / "yoloxkit")


def cache_dir() -> Path:
    """Folder where downloaded weights are kept."""
    return home_dir() / "weights"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(digest: str, weights: WeightsFile, where: str) -> None:
    if weights.sha256 and digest != weights.sha256:
        raise YoloxkitError(f"checksum mismatch for {where}: sha256 {digest}, expected {weights.sha256}")
    if weights.sha256_prefix and not digest.startswith(weights.sha256_prefix):
        raise YoloxkitError(
            f"checksum mismatch for {where}: sha256 {digest[:16]}..., expected to start with {weights.sha256_prefix}"
        )


def _download(url: str, target: Path, progress: bool) -> None:
    """Stream ``url`` into ``target`` all or nothing (atomic write); any failure is a YoloxkitError."""
    try:
        with atomic_write(target) as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
            if total is not None and out.tell() != total:
                raise YoloxkitError(f"download of {url} stopped after {out.tell()} of {total} bytes")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        # URLError/HTTPError: unreachable host or HTTP error status; HTTPException: a reply that
        # is not HTTP (BadStatusLine) or a broken chunked body; ValueError: a malformed URL
        # (e.g. a mirror without scheme).
        reason = " ".join(str(exc).split()) or type(exc).__name__  # one line, even for a raw server reply
        raise YoloxkitError(f"cannot download {url}: {reason}") from None


def resolve(name: str, source: str = "megvii") -> WeightsFile:
    """The release file registered for model ``name`` from ``source`` (megvii or mmdet)."""
    if source not in PRETRAINED:
        raise YoloxkitError(f"unknown weights source {source!r}; choose from {', '.join(PRETRAINED)}")
    key = canonical_name(name)
    files = PRETRAINED[source]
    if key not in files:
        raise YoloxkitError(f"no {source} pretrained weights for {name!r}; available: {', '.join(files)}")
    return files[key]


def fetch(name: str, source: str = "megvii", progress: bool = True) -> Path:
    """Path of the cached, verified weights file for ``name``, downloading it if needed."""
    weights = resolve(name, source)
    target = cache_dir() / weights.filename
    record = target.with_name(target.name + ".sha256")
    if not target.exists():
        mirror = os.environ.get("YOLOXKIT_WEIGHTS_URL")
        url = f"{mirror.rstrip('/')}/{weights.filename}" if mirror else weights.url
        staging = target.with_name(target.name + ".download")
        _download(url, staging, progress)
        digest = _sha256(staging)
        try:
            _check_digest(digest, weights, url)
        except YoloxkitError:
            staging.unlink(missing_ok=True)
            raise
        write_text(record, digest + "\n")
        shutil.move(staging, target)
        return target
    digest = _sha256(target)
    _check_digest(digest, weights, str(target))
    if record.exists() and record.read_text().strip() != digest:
        raise YoloxkitError(
            f"cached weights {target} changed since download (sha256 differs from {record.name}); delete both files to fetch again"
        )
    return target
