"""Shared fixtures: real COCO128 images and a tiny yolox-nano checkpoint that detects things.

An untrained YOLOX scores every box 1e-4 and its outputs barely depend on the image, so
nothing survives a threshold and a wrong input conversion would go unnoticed. The fixture
model is therefore calibrated (deterministically, as ``tests/reference.py`` does for the
parity tests): BatchNorm statistics estimated on real images, prediction convs rescaled so
that scores spread over (0, 1). Every test image then gets tens of image-dependent
detections. It runs at a 128x128 input to keep forward passes short.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

# Several xdist workers share the cores: each gets its share of OpenMP threads, set before torch
# is imported (so its subprocesses inherit it too). Two workers of two spinning OpenMP threads on
# a 2-core machine cost 30 % more CPU time and 34 % more wall time (tests/test_parity.py and
# tests/test_benchmarks.py: 338 -> 236 CPU-s, 190 -> 142 s). Tests that need a thread count set it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))

# Tests never touch the user's ~/.cache/yoloxkit: one throw-away home per pytest run, made by the
# controller and inherited by the xdist workers and every subprocess (the trainer caches its
# measured memory layout there, train/layout.py; test_hub sets its own).
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["YOLOXKIT_HOME"] = tempfile.mkdtemp(prefix="yoloxkit-test-home-")
    atexit.register(shutil.rmtree, os.environ["YOLOXKIT_HOME"], ignore_errors=True)

import cv2  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tests.reference import calibrate  # noqa: E402
from yoloxkit.checkpoints import save_checkpoint  # noqa: E402
from yoloxkit.data.coco import COCO_CLASSES  # noqa: E402
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch  # noqa: E402
from yoloxkit.models import YOLOX, create  # noqa: E402

pytest_plugins = ["tests.worker_log"]

COCO128_IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017"
NANO_CONTRACT = PreprocessContract((128, 128))


#: Under CI (``CI=true``, as ``.ci/run`` runs) a skipped test is a failure: a missing parity
#: reference, ``../shared`` dataset or optional extra must break the build, not hide tests.
#: Only tests that need a CUDA device may skip there.
STRICT_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
ALLOWED_SKIP_WORDS = ("cuda",)


def _skip_reason(report: pytest.BaseReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)


def _allowed_skip(report: pytest.BaseReport) -> bool:
    return any(word in _skip_reason(report).lower() for word in ALLOWED_SKIP_WORDS)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every test starts without the SIGCHLD handler that PyTorch's DataLoader installs for good
    (once per process) the first time it iterates with workers: the handler runs on every later
    child exit, and in a long-lived xdist worker one such exit (the training interpreter of
    tests/report/test_train_report.py) ended in a segmentation fault inside it — the worker lost
    silently in CI (caught with strace: SIGCHLD from that child, then SIGSEGV in the worker).
    The trainer now gives the handler back itself (train/hooks.py ChildSignalHook); this stays for
    tests that iterate a DataLoader with workers outside a Trainer."""
    if callable(signal.getsignal(signal.SIGCHLD)):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    outcome = yield
    report = outcome.get_result()
    if STRICT_CI and report.skipped and not _allowed_skip(report):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must not skip it: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> None:
    outcome = yield
    report = outcome.get_result()
    if STRICT_CI and report.skipped and not _allowed_skip(report):
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true, which must not skip it: {_skip_reason(report)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = _skip_reason(report).split(": ", 1)[-1].strip("'\")")
        reasons[reason] = reasons.get(reason, 0) + 1
    mode = "CI=true: only CUDA-only tests may skip" if STRICT_CI else "not under CI: skips allowed"
    detail = "; ".join(f"{count} x {reason}" for reason, count in sorted(reasons.items())) or "none"
    terminalreporter.write_line(f"skipped tests: {len(skipped)} ({mode}): {detail}")


def make_detecting_nano(calibration_images: list[Path], num_classes: int = 80, seed: int = 0) -> YOLOX:
    """A yolox-nano (eval mode) with random weights calibrated to detect on real images."""
    torch.manual_seed(seed)
    model = create("yolox-nano", num_classes=num_classes)
    batch, _ = preprocess_batch([cv2.imread(str(p)) for p in calibration_images], NANO_CONTRACT)
    return calibrate(model, batch, obj_bias=-1.0, cls_bias=-1.0)


@pytest.fixture(scope="session")
def coco_images() -> list[Path]:
    """A few real COCO128 images (read in place, never copied into the repository)."""
    images = sorted(COCO128_IMAGES.glob("*.jpg"))[:4]
    if not images:
        pytest.skip(f"COCO128 images not found in {COCO128_IMAGES}")
    return images


@pytest.fixture(scope="session")
def nano_checkpoint(tmp_path_factory: pytest.TempPathFactory, coco_images: list[Path]) -> Path:
    """A yoloxkit-format yolox-nano checkpoint (80 COCO classes, 128x128 input) that detects."""
    path = tmp_path_factory.mktemp("nano") / "nano.pth"
    model = make_detecting_nano(coco_images)
    save_checkpoint(path, model, "yolox-nano", list(COCO_CLASSES), NANO_CONTRACT.to_dict())
    return path
