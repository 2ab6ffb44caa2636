"""Where training images come from: decoded on every use, or cached once, pre-resized, in RAM or on disk.

Both caches hold every image already fitted to the input size (uint8, the reference's cache
content) in ONE flat buffer with per-image offsets: in RAM a NumPy array that forked workers
share without copying, on disk a single file that every worker memory-maps. The size is known
exactly before anything is decoded (annotated sizes -> fitted sizes), and a cache that would not
fit is refused with the numbers instead of being silently disabled as the reference does.

The disk cache lives in ``cache_dir`` (default ``$XDG_CACHE_HOME/yoloxkit/images``), never in the
dataset folder, under a key made of the input size and every file's path, annotated size, byte
size and modification time, so an edited image or annotation never reads a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import psutil
from tqdm import tqdm

from ..errors import YoloxkitError
from ..files import write_json
from .badimages import BadImageLog
from .decode import BadImageError, decode_fitted
from .records import TrainRecords

logger = logging.getLogger(__name__)

CacheMode = Literal["none", "ram", "disk"]
GIB = 1 << 30
#: Memory or disk space a cache must leave free.
RESERVE_BYTES = GIB
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/yoloxkit/images`` (``~/.cache/yoloxkit/images``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "yoloxkit" / "images"


def image_offsets(records: TrainRecords) -> np.ndarray:
    """int64 ``[N + 1]`` byte offsets of each fitted image in the flat buffer (the last one is the total)."""
    sizes = [h * w * 3 for h, w in (records.fitted_shape(i) for i in range(len(records)))]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def ensure_fits(kind: str, need: int, free: int, detail: str, advice: str) -> None:
    """Raise a YoloxkitError with the numbers when ``need`` bytes plus the reserve exceed ``free``."""
    if need + RESERVE_BYTES > free:
        raise YoloxkitError(
            f"{kind} cache needs {need / GIB:.2f} GiB for {detail}, but only {free / GIB:.2f} GiB "
            f"are free ({RESERVE_BYTES / GIB:.0f} GiB must stay free); {advice}"
        )


class DecodeStore:
    """No cache: every request decodes the file (files found unreadable are remembered per process)."""

    def __init__(self, records: TrainRecords, reduce: bool = True) -> None:
        self.records = records
        self.reduce = reduce
        self._bad: dict[int, str] = {}

    def decode(self, index: int) -> np.ndarray:
        """Decode image ``index`` to its fitted size (BadImageError when unreadable)."""
        path = self.records.paths[index]
        if index in self._bad:
            raise BadImageError(path, self._bad[index])
        size = tuple(int(v) for v in self.records.sizes[index])
        try:
            return decode_fitted(path, size, self.records.fitted_shape(index), self.reduce)
        except BadImageError as exc:
            self._bad[index] = exc.reason
            raise

    get = decode


class CachedStore(DecodeStore):
    """All fitted images in one flat uint8 buffer: a RAM array, or a file memory-mapped on first use."""

    def __init__(self, records: TrainRecords, offsets: np.ndarray, bad: dict[int, str], buffer: np.ndarray | None = None,
                 file: Path | None = None) -> None:  # fmt: skip
        super().__init__(records)
        self.offsets = offsets
        self._bad = dict(bad)
        self._buffer = buffer
        self.file = file

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.file is not None:
            state["_buffer"] = None  # each worker maps the file itself
        return state

    @property
    def nbytes(self) -> int:
        """Bytes held by the cache."""
        return int(self.offsets[-1])

    def get(self, index: int) -> np.ndarray:
        """The cached fitted image ``index`` (a read-only view)."""
        if index in self._bad:
            raise BadImageError(self.records.paths[index], self._bad[index])
        if self._buffer is None:
            self._buffer = np.memmap(self.file, dtype=np.uint8, mode="r", shape=(self.nbytes,))
        h, w = self.records.fitted_shape(index)
        return self._buffer[self.offsets[index] : self.offsets[index + 1]].reshape(h, w, 3)


def _fill(store: DecodeStore, buffer: np.ndarray, offsets: np.ndarray, skip_bad: bool, log: BadImageLog, what: str) -> dict[int, str]:
    """Decode every image into its slot of ``buffer`` (threads); the unreadable ones by index."""
    bad: dict[int, str] = {}

    def one(index: int) -> None:
        image = store.decode(index)
        buffer[offsets[index] : offsets[index + 1]] = image.reshape(-1)

    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    futures = {pool.submit(one, i): i for i in range(len(store.records))}
    try:
        for future in tqdm(futures, desc=f"caching images ({what})", unit="img", disable=None):
            try:
                future.result()
            except BadImageError as exc:
                if not skip_bad:
                    raise
                bad[futures[future]] = exc.reason
                log.add(exc.path, exc.reason)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return bad


def _disk_key(records: TrainRecords, reduce: bool) -> str:
    entries = []
    for path, (h, w) in zip(records.paths, records.sizes.tolist()):
        try:
            stat = os.stat(path)
            entries.append([path, h, w, stat.st_size, stat.st_mtime_ns])
        except OSError:
            entries.append([path, h, w, None, None])
    text = json.dumps([_CACHE_VERSION, list(records.input_size), reduce, entries])
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _ram_store(records: TrainRecords, offsets: np.ndarray, skip_bad: bool, log: BadImageLog, reduce: bool) -> CachedStore:
    memory = psutil.virtual_memory()
    detail = f"{len(records)} images fitted to {records.input_size[1]}x{records.input_size[0]}"
    ensure_fits("RAM", int(offsets[-1]), memory.available, f"{detail} (RAM total {memory.total / GIB:.1f} GiB)",
                "use the disk cache or no cache")  # fmt: skip
    buffer = np.empty(int(offsets[-1]), dtype=np.uint8)
    bad = _fill(DecodeStore(records, reduce), buffer, offsets, skip_bad, log, "RAM")
    buffer.flags.writeable = False
    return CachedStore(records, offsets, bad, buffer=buffer)


def _disk_store(records: TrainRecords, offsets: np.ndarray, folder: Path, skip_bad: bool, log: BadImageLog, reduce: bool) -> CachedStore:
    key = _disk_key(records, reduce)
    data_file, index_file = folder / f"{key}.bin", folder / f"{key}.json"
    bad = _read_disk_index(index_file, data_file, len(records), int(offsets[-1]))
    if bad is not None:
        if bad and not skip_bad:
            first = min(bad)
            raise BadImageError(records.paths[first], bad[first])
        for i, reason in bad.items():
            log.add(records.paths[i], reason)
        return CachedStore(records, offsets, bad, file=data_file)
    folder.mkdir(parents=True, exist_ok=True)
    detail = f"{len(records)} images fitted to {records.input_size[1]}x{records.input_size[0]} in {folder}"
    ensure_fits("disk", int(offsets[-1]), shutil.disk_usage(folder).free, detail, "choose another cache_dir or no cache")
    partial = folder / f"{key}.bin.partial"
    buffer = np.memmap(partial, dtype=np.uint8, mode="w+", shape=(int(offsets[-1]),))
    try:
        bad = _fill(DecodeStore(records, reduce), buffer, offsets, skip_bad, log, "disk")
        buffer.flush()
    except BaseException:
        del buffer
        partial.unlink(missing_ok=True)
        raise
    del buffer
    partial.replace(data_file)
    write_json(index_file, {"images": len(records), "bytes": int(offsets[-1]), "bad": bad}, indent=None)
    return CachedStore(records, offsets, bad, file=data_file)


def _read_disk_index(index_file: Path, data_file: Path, images: int, nbytes: int) -> dict[int, str] | None:
    """The bad-image list of a complete disk cache; None when there is none or it is damaged.

    A damaged cache (index not JSON or cut short, counts that do not match, a data file of the
    wrong length) is reported with a warning and removed, so that it is rebuilt.
    """
    if not index_file.exists() and not data_file.exists():
        return None
    try:
        index = json.loads(index_file.read_text())
        if index["images"] != images or index["bytes"] != nbytes:
            raise ValueError(f"it holds {index['images']} images / {index['bytes']} bytes, expected {images} / {nbytes}")
        if data_file.stat().st_size != nbytes:
            raise ValueError(f"{data_file.name} has {data_file.stat().st_size} bytes, expected {nbytes}")
        return {int(i): str(reason) for i, reason in index["bad"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("disk cache %s is damaged (%s); rebuilding it", data_file, exc)
        index_file.unlink(missing_ok=True)
        data_file.unlink(missing_ok=True)
        return None


def build_store(records: TrainRecords, mode: CacheMode, log: BadImageLog, skip_bad: bool = False,
                cache_dir: Path | None = None, reduce: bool = True) -> DecodeStore:  # fmt: skip
    """The image store for ``mode``: ``none`` (decode on use), ``ram`` or ``disk`` (built now, size checked first)."""
    if mode == "none":
        return DecodeStore(records, reduce)
    offsets = image_offsets(records)
    if mode == "ram":
        return _ram_store(records, offsets, skip_bad, log, reduce)
    if mode == "disk":
        return _disk_store(records, offsets, Path(cache_dir) if cache_dir else default_cache_dir(), skip_bad, log, reduce)
    raise YoloxkitError(f"unknown cache mode {mode!r}; choose none, ram or disk")
