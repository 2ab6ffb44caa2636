"""``RUN/report.html`` of a training run: refreshed after every validation, complete at the end
with the final evaluation page, both rendered in headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import open_page

#: The run goes in its own interpreter: a training run inside a long-lived test worker (after other
#: tests loaded ONNX Runtime, OpenVINO, ...) lost the xdist worker twice in CI, and the worker
#: waiting for this interpreter twice more: a segmentation fault in the SIGCHLD handler that
#: PyTorch's DataLoader leaves installed (tests/conftest.py removes it before every test).
TRAIN = """
import shutil, sys
from pathlib import Path
from yoloxkit.cli import main
from yoloxkit.train import Trainer, make_train_config
from yoloxkit.train.hooks import Hook

root = Path(sys.argv[1])
try:
    main(["data", "synth", "--out", str(root / "data"), "--images", "12", "--classes", "3", "--size", "96"])
except SystemExit as done:
    assert not done.code

class PageAfterEachEpoch(Hook):
    def after_epoch(self, trainer, end):
        page = trainer.out / "report.html"
        if page.exists():
            shutil.copy(page, root / f"page-{end.epoch}.html")

cfg = make_train_config(None, ["val.interval=2", "augment.no_aug_epochs=1", "log.progress=false", "log.plots=false",
                               "augment.input_size=[96,96]", "loader.workers=0"], data=str(root / "data"),
                        model="yolox-nano", epochs=3, batch=4, out=str(root / "run"))
trainer = Trainer(cfg)
trainer.hooks.append(PageAfterEachEpoch())
summary = trainer.fit()
assert summary["report"] == str(root / "run" / "report.html")
"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 3-epoch run (validated at epochs 2 and 3) and what its report.html said after each epoch."""
    root = tmp_path_factory.mktemp("train-report")
    done = subprocess.run([sys.executable, "-c", TRAIN, str(root)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    pages = [(root / f"page-{epoch}.html").read_text() if (root / f"page-{epoch}.html").exists() else "" for epoch in (1, 2, 3)]
    return root / "run", pages


def test_the_page_is_refreshed_at_each_validation(finished_run) -> None:
    _, pages = finished_run
    assert pages[0] == ""  # epoch 1 is not validated (interval 2)
    assert "running: epoch 2 of 3 done" in pages[1] and pages[2] != pages[1]  # epoch 3: the last, validated
    assert "running: epoch 3 of 3 done" in pages[2]


def test_the_finished_page_and_its_final_evaluation_render(finished_run) -> None:
    run, _ = finished_run
    with open_page(run / "report.html") as page:
        for section in ("status", "curves", "classes", "validations", "final"):
            assert page.is_visible(f"section#{section}"), section
        assert "finished: completed after 3 epochs" in page.inner_text("#status")
        assert page.locator("#curves svg.chart").count() == 4  # losses, train vs val loss, mAP, lr
        assert page.locator("#validations tbody tr").count() == 2  # epochs 2 and 3
        header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
        assert page.locator("#classes polyline[data-k]").count() == sum(c.startswith("val/AP50_95/") for c in header) >= 2
        key = page.locator("#classes polyline[data-k]").first.get_attribute("data-k")
        page.select_option("#classes select.class-pick", key)
        assert page.locator("#classes polyline.on").count() == 1
        page.click("#final a")
        page.wait_for_selector("body[data-ready='1']")
        assert page.url.endswith("/eval/report.html")
        assert page.locator("#class-table tbody tr").count() == 3
    assert (run / "eval" / "metrics.json").is_file()
