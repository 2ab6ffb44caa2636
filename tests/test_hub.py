"""Pretrained-weights download and cache, against a local HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from yoloxkit import Detector, YoloxkitError, hub
from yoloxkit.models import create

NANO_FILE = hub.PRETRAINED["megvii"]["yolox-nano"].filename  # yolox_nano.pth
TINY_FILE = hub.PRETRAINED["megvii"]["yolox-tiny"].filename  # served truncated
S_FILE = hub.PRETRAINED["megvii"]["yolox-s"].filename  # served as a garbage (non-HTTP) reply


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of ``root`` under any URL folder and records every request path.

    On purpose, ``TINY_FILE`` is cut short and ``S_FILE`` gets a reply that is not HTTP.
    """

    root: Path
    requests: list[str]

    def translate_path(self, path: str) -> str:
        return str(self.root / Path(path.split("?")[0]).name)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.requests.append(self.path)
        if self.path.endswith(TINY_FILE):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\0" * 1000)  # then the connection closes: a truncated download
            self.close_connection = True
            return
        if self.path.endswith(S_FILE):
            self.wfile.write(b"garbage\r\n\r\n")
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        pass


@dataclass
class WeightsServer:
    """A running local server: its URL, the folder it serves and the requests it received."""

    url: str
    root: Path
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def nano_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A Megvii-layout yolox-nano file, as the release page serves it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("release") / NANO_FILE
    torch.save({"start_epoch": 300, "model": create("yolox-nano").state_dict(), "optimizer": {}, "amp": {}}, path)
    return path.read_bytes()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nano_bytes: bytes) -> Iterator[WeightsServer]:
    """Local weights mirror on a free port; YOLOXKIT_HOME and YOLOXKIT_WEIGHTS_URL point at tmp and it."""
    root = tmp_path / "mirror"
    root.mkdir()
    (root / NANO_FILE).write_bytes(nano_bytes)
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"root": root, "requests": requests})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    url = f"http://127.0.0.1:{httpd.server_address[1]}/releases/"
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", url)
    try:
        yield WeightsServer(url, root, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def cache_files() -> list[str]:
    """Every file in the weights cache (temporary ones included)."""
    folder = hub.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_follows_yoloxkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path / "weights"
    monkeypatch.delenv("YOLOXKIT_HOME")
    assert hub.cache_dir() == Path.home() / ".cache" / "yoloxkit" / "weights"


def test_fetch_downloads_once_into_the_cache(server: WeightsServer, nano_bytes: bytes) -> None:
    path = hub.fetch("yolox-nano", progress=False)
    assert path == hub.cache_dir() / NANO_FILE
    assert path.read_bytes() == nano_bytes
    digest = hashlib.sha256(nano_bytes).hexdigest()
    assert (path.parent / f"{NANO_FILE}.sha256").read_text().strip() == digest
    assert cache_files() == [NANO_FILE, f"{NANO_FILE}.sha256"]  # no temporary leftovers
    assert server.requests == [f"/releases/{NANO_FILE}"]

    assert hub.fetch("YOLOX_NANO", progress=False) == path  # any spelling, no second download
    assert len(server.requests) == 1


def test_from_pretrained_loads_the_served_weights(server: WeightsServer, nano_bytes: bytes, tmp_path: Path) -> None:
    detector = Detector.from_pretrained("yolox-nano", input_size=64)
    assert detector.model_name == "yolox-nano" and detector.contract.input_size == (64, 64)
    served = tmp_path / "served.pth"
    served.write_bytes(nano_bytes)
    expected = torch.load(served, weights_only=True)["model"]
    assert all(torch.equal(detector.model.state_dict()[k], v) for k, v in expected.items())
    Detector.from_pretrained("nano")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "weights",
    [hub.WeightsFile("https://example.invalid/yolox_nano.pth", sha256="0" * 64),
     hub.WeightsFile("https://example.invalid/yolox_nano.pth", sha256_prefix="deadbeef")],
    ids=["sha256", "prefix"],
)
def test_checksum_mismatch_leaves_nothing_in_the_cache(
    weights: hub.WeightsFile, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(hub.PRETRAINED["megvii"], "yolox-nano", weights)
    with pytest.raises(YoloxkitError, match="checksum mismatch") as info:
        Detector.from_pretrained("yolox-nano")
    assert "\n" not in str(info.value) and server.url in str(info.value)
    assert cache_files() == []


def test_matching_checksums_are_accepted(server: WeightsServer, nano_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256(nano_bytes).hexdigest()
    for weights in (hub.WeightsFile("https://example.invalid/yolox_nano.pth", sha256=digest),
                    hub.WeightsFile("https://example.invalid/yolox_nano.pth", sha256_prefix=digest[:8])):
        monkeypatch.setitem(hub.PRETRAINED["megvii"], "yolox-nano", weights)
        assert hub.fetch("yolox-nano", progress=False).read_bytes() == nano_bytes
    assert len(server.requests) == 1


def test_mmdet_file_is_checked_against_its_published_prefix(server: WeightsServer, nano_bytes: bytes) -> None:
    weights = hub.resolve("yolox-tiny", "mmdet")
    (server.root / weights.filename).write_bytes(nano_bytes)  # not the published file
    with pytest.raises(YoloxkitError, match=f"expected to start with {weights.sha256_prefix}"):
        hub.fetch("yolox-tiny", "mmdet", progress=False)
    assert cache_files() == []


def test_corrupted_cache_is_detected(server: WeightsServer) -> None:
    path = hub.fetch("yolox-nano", progress=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))
    with pytest.raises(YoloxkitError, match="changed since download") as info:
        Detector.from_pretrained("yolox-nano")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert len(server.requests) == 1  # detected locally, not re-downloaded


def test_server_404_is_a_clear_error(server: WeightsServer) -> None:
    (server.root / NANO_FILE).unlink()
    with pytest.raises(YoloxkitError) as info:
        Detector.from_pretrained("yolox-nano")
    message = str(info.value)
    assert message.startswith(f"cannot download {server.url}{NANO_FILE}") and "404" in message
    assert "\n" not in message
    assert cache_files() == []


@pytest.mark.parametrize(
    "name, message",
    [("yolox-tiny", f"download of {{url}}{TINY_FILE} stopped after 1000 of 100000 bytes"),
     ("yolox-s", f"cannot download {{url}}{S_FILE}: garbage")],
    ids=["truncated", "not-http"],
)
def test_broken_transfers_are_clear_errors(name: str, message: str, server: WeightsServer) -> None:
    with pytest.raises(YoloxkitError) as info:
        hub.fetch(name, progress=False)
    assert str(info.value) == message.format(url=server.url)
    assert cache_files() == []


def test_unreachable_and_malformed_mirrors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOXKIT_HOME", str(tmp_path))
    with socket.socket() as sock:  # a port on 127.0.0.1 that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(YoloxkitError, match=f"cannot download http://127.0.0.1:{port}/{NANO_FILE}"):
        hub.fetch("yolox-nano", progress=False)
    monkeypatch.setenv("YOLOXKIT_WEIGHTS_URL", "127.0.0.1/no-scheme")
    with pytest.raises(YoloxkitError, match="cannot download 127.0.0.1/no-scheme"):
        hub.fetch("yolox-nano", progress=False)
    assert cache_files() == []


def test_unwritable_cache_is_a_clear_error(server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("YOLOXKIT_HOME", str(blocker))
    with pytest.raises(YoloxkitError, match=f"cannot write {blocker / 'weights'}"):
        hub.fetch("yolox-nano", progress=False)
    assert server.requests == []


def test_unknown_names_and_sources() -> None:
    with pytest.raises(YoloxkitError, match="unknown weights source 'hf'"):
        hub.resolve("yolox-s", "hf")
    with pytest.raises(YoloxkitError, match="no mmdet pretrained weights for 'yolox-nano'"):
        hub.resolve("yolox-nano", "mmdet")
    with pytest.raises(YoloxkitError, match="no megvii pretrained weights for 'yolox-q'"):
        hub.resolve("yolox-q")
