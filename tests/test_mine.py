"""``yoloxkit mine`` (issue 18 §4): the uncertainty parts, mirror mapping, the diverse greedy batch,
and the command end to end with pre-annotations that yoloxkit (and the labelling tools' formats) read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import run_cli
from tests.conftest import COCO128_IMAGES
from yoloxkit.datasets.load import load_dataset
from yoloxkit.mining import MinedImage, choose_batch, flip_disagreement, low_margin, mirrored
from yoloxkit.structures import BoxFormat, Boxes, Detections


def dets(rows: list[list[float]], scores: list[float], classes: list[int], fmt: BoxFormat = BoxFormat.XYXY) -> Detections:
    data = np.array(rows, dtype=np.float64).reshape(-1, fmt.width)
    return Detections(Boxes(data, fmt), np.array(scores, dtype=np.float64), np.array(classes, dtype=np.int64), ["a", "b"], (100, 200))


def test_flip_disagreement_is_zero_for_agreement_and_one_for_none() -> None:
    a = dets([[10, 10, 50, 50], [100, 20, 150, 80]], [0.9, 0.6], [0, 1])
    assert flip_disagreement(a, a) == pytest.approx(0.0)
    assert flip_disagreement(a, dets([[10, 10, 50, 50]], [0.9], [1])) == pytest.approx(1.0)  # other class: no match
    assert flip_disagreement(dets([], [], []), dets([], [], [])) == 0.0
    half = flip_disagreement(a, dets([[10, 10, 50, 50]], [0.9], [0]))  # the second object missing in one view
    assert half == pytest.approx(1 - 2 * 0.9 / (1.5 + 0.9))
    assert low_margin(dets([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5, 1.0], [0, 0])) == pytest.approx(0.5)


@pytest.mark.parametrize("fmt", [BoxFormat.XYXY, BoxFormat.RBOX])
def test_mirroring_twice_gives_the_detections_back(fmt: BoxFormat) -> None:
    rows = [[10, 10, 50, 60], [120, 30, 180, 90]] if fmt == BoxFormat.XYXY else [[40, 30, 30, 10, 0.4], [150, 50, 40, 20, -1.2]]
    original = dets(rows, [0.9, 0.5], [0, 1], fmt)
    once = mirrored(original)
    assert not np.allclose(once.boxes.data, original.boxes.data)
    if fmt == BoxFormat.XYXY:  # the image is 200 px wide
        np.testing.assert_allclose(once.boxes.data[0], [150, 10, 190, 60])
    else:
        np.testing.assert_allclose(once.boxes.data[0, :2], [160, 30], atol=1e-3)
    np.testing.assert_allclose(mirrored(once).boxes.convert(BoxFormat.QBOX).data, original.boxes.convert(BoxFormat.QBOX).data, atol=1e-3)


def test_the_batch_prefers_uncertain_images_but_not_many_copies_of_one() -> None:
    rng = np.random.default_rng(0)
    scene = rng.normal(size=64)
    copies = [scene + rng.normal(0, 0.01, 64) for _ in range(5)]
    others = [rng.normal(size=64) for _ in range(5)]
    features = [f / np.linalg.norm(f - f.mean()) for f in (*copies, *others)]
    mined = [MinedImage(Path(f"{i}.jpg"), u, u, f - f.mean(), dets([], [], [])) for i, (u, f) in enumerate(zip([0.9] * 5 + [0.6] * 5, features))]
    assert choose_batch(mined, 3, diversity=0.0) == [0, 1, 2]  # uncertainty alone: three copies of one scene
    diverse = choose_batch(mined, 3)
    assert diverse[0] == 0 and sum(i < 5 for i in diverse) == 1


def test_mine_writes_the_batch_with_pre_annotations(tmp_path: Path, capfd, nano_checkpoint: Path) -> None:
    pattern = str(COCO128_IMAGES / "0000000000[0-4]*.jpg")  # 7 images, read in place
    images = sorted(COCO128_IMAGES.glob("0000000000[0-4]*.jpg"))
    out = tmp_path / "batch"
    run = run_cli(capfd, "mine", "--images", pattern, "-w", nano_checkpoint, "--budget", "4", "--out", out, "--conf", "0.2")
    assert run.code == 0, run.err
    assert "chose 4 of" in run.out
    record = json.loads((out / "mining" / "mine.json").read_text())
    assert record["chosen"] == 4 and record["images"] == len(images) == 7
    assert [row["chosen"] for row in record["ranking"][:4]] == [1, 2, 3, 4]
    labelled = load_dataset(out)
    chosen = [row["file"] for row in record["ranking"][:4]]
    assert sorted(Path(i.file_name).name for s in labelled.splits.values() for i in s.images) == sorted(Path(f).name for f in chosen)
    assert sum(len(i.annotations) for s in labelled.splits.values() for i in s.images) > 0
    cvat = tmp_path / "cvat"
    assert run_cli(capfd, "mine", "--images", pattern, "-w", nano_checkpoint, "--budget", "2", "--out", cvat, "--format", "cvat").code == 0
    assert load_dataset(cvat).num_images == 2


def test_mine_skips_an_unreadable_image_with_one_line(tmp_path: Path, capfd, nano_checkpoint: Path) -> None:
    import shutil

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for path in sorted(COCO128_IMAGES.glob("*.jpg"))[:3]:
        shutil.copy(path, folder / path.name)  # a scratch copy in the test's own temporary folder
    shutil.copy(sorted(COCO128_IMAGES.glob("*.jpg"))[3], folder / "with, comma.jpg")  # a name the CSV must quote
    (folder / "broken.jpg").write_bytes(b"not an image")
    run = run_cli(capfd, "mine", "--images", folder, "-w", nano_checkpoint, "--budget", "2", "--out", tmp_path / "out")
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0]
    assert json.loads((tmp_path / "out" / "mining" / "mine.json").read_text())["skipped"][0]["file"].endswith("broken.jpg")
    import csv

    with (tmp_path / "out" / "mining" / "mine.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and any(row["file"].endswith("with, comma.jpg") for row in rows)
