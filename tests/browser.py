"""Opening yoloxkit's HTML pages in headless Chromium (Debian's ``chromium``, driven by Playwright).

:func:`open_page` loads a file, waits for the page's scripts (``body[data-ready]``) and fails on
any console error, uncaught exception or request for anything but the file itself and its
``data:`` URIs (a page that needs the network does not open offline). Without a browser the test is skipped, which under
``CI=true`` is a failure (``tests/conftest.py``); ``.ci/run`` installs Chromium when missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def chromium_path() -> str:
    """The Chromium executable (``YOLOXKIT_CHROMIUM`` or ``chromium`` on PATH), or skip."""
    found = os.environ.get("YOLOXKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("headless Chromium is not installed (Debian package chromium; .ci/run installs it)")
    return found


@contextmanager
def open_page(path: Path, width: int = 1300, height: int = 900) -> Iterator[object]:
    """A Playwright page showing ``path`` after its scripts ran; console errors fail the test."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements/dev.txt)")
    executable = chromium_path()
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
            page.on(  # a page that opens offline asks for nothing beyond itself
                "request",
                lambda request: None if request.url.startswith(("file:", "data:")) else errors.append(f"external request: {request.url}"),
            )
            page.goto(path.resolve().as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=10_000)
            yield page
            assert not errors, f"browser errors on {path.name}: {errors}"
        finally:
            browser.close()
