"""DOTA split -> merge round trip on ../shared/datasets/dota_sample, window geometry, Task1 files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from yoloxkit.data.images import read_image
from yoloxkit.datasets.dota import read_dota
from yoloxkit.datasets.report import Report
from yoloxkit.dota import SplitConfig, merge_patch_predictions, parse_patch_name, sliding_windows, split_dataset
from yoloxkit.dota.merge import shift_boxes
from yoloxkit.dota.polygons import window_iof
from yoloxkit.dota.split import read_objects
from yoloxkit.dota.task1 import read_task1, task1_line, write_task1
from yoloxkit.errors import YoloxkitError
from yoloxkit.structures import BoxFormat, Boxes, Detections

SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "dota_sample"
SMALL = SplitConfig(sizes=(256,), gaps=(64,))  # the sample is 712 x 557: several patches, cut objects


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    return out, split_dataset(SAMPLE, out, SMALL)


def test_windows_as_the_split_tool():
    windows = sliding_windows(2000, 1024, SplitConfig())
    # step 824: x starts 0, 824 and 1648 moved back to 2000 - 1024; one row
    assert windows.tolist() == [[0, 0, 1024, 1024], [824, 0, 1848, 1024], [976, 0, 2000, 1024]]
    small = sliding_windows(712, 557, SplitConfig())
    assert small.tolist() == [[0, 0, 1024, 1024]]  # below img_rate_thr, kept as the best window
    scaled = SplitConfig(rates=(0.5, 1.0))
    assert scaled.windows() == [(2048, 400), (1024, 200)]
    assert len(sliding_windows(3000, 3000, scaled)) == 4 + 16
    with pytest.raises(YoloxkitError, match="gap"):
        SplitConfig(sizes=(100,), gaps=(100,))


def test_patch_names_and_offsets():
    assert parse_patch_name("P0001__1024__824___0") == parse_patch_name("out/images/P0001__1024__824___0.png")
    origin = parse_patch_name("P0001__1024__824___0.png")
    assert (origin.image, origin.x, origin.y) == ("P0001", 824, 0)
    with pytest.raises(YoloxkitError, match="patch name"):
        parse_patch_name("P0001.png")


def test_patch_files_pixels_and_padding(split):
    out, patches = split
    assert [p.name for p in patches][:3] == ["P1888__256__0___0", "P1888__256__0___192", "P1888__256__0___301"]
    image = read_image(SAMPLE / "images" / "P1888.png")
    for patch in patches:
        x1, y1, x2, y2 = patch.window
        pixels = read_image(out / "images" / f"{patch.name}.png")
        assert np.array_equal(pixels, image[y1:y2, x1:x2])
        assert (out / "annfiles" / f"{patch.name}.txt").is_file()
    big = split_dataset(SAMPLE, out / "padded", SplitConfig())
    (padded,) = big
    pixels = read_image(out / "padded" / "images" / f"{padded.name}.png")
    assert pixels.shape == (1024, 1024, 3)
    assert np.array_equal(pixels[:557, :712], image)
    assert (pixels[557:] == (104, 116, 124)).all() and (pixels[:, 712:] == (104, 116, 124)).all()


def test_ground_truth_mapped_into_patches_and_back(split):
    out, patches = split
    (original,) = read_objects(SAMPLE).values()
    windows = np.array([p.window for p in patches])
    iof = window_iof(original.quads, windows)
    # what the patch label files say, read with the package's DOTA reader (annfiles/ layout)
    written = read_dota(out, Report())
    recovered: dict[int, list[tuple[int, bool]]] = {}
    for _, record in written.items():
        origin = parse_patch_name(record.file_name)
        ann = record.annotations
        quads = ann.boxes.data + np.array([origin.x, origin.y] * 4)
        k = next(i for i, p in enumerate(patches) if p.name == Path(record.file_name).stem)
        for quad, cut in zip(quads, ann.truncated):
            match = np.flatnonzero(np.abs(original.quads - quad).max(1) < 1e-3)
            assert len(match) == 1, "every patch object is one original polygon, translated, never clipped"
            obj = int(match[0])
            assert iof[obj, k] >= 0.7
            assert bool(cut) == (iof[obj, k] < 1)  # cut by the patch edge -> difficulty 2
            recovered.setdefault(obj, []).append((k, bool(cut)))
    expected = set(np.flatnonzero((iof >= 0.7).any(1)).tolist())
    assert set(recovered) == expected
    assert any(cut for seen in recovered.values() for _, cut in seen)
    assert len(expected) == len(original.quads)  # with a 64 px gap, every vehicle is wholly inside a patch
    for obj, seen in recovered.items():  # original difficulty kept where the object is whole
        assert any(not cut for _, cut in seen)
    assert sum(len(seen) for seen in recovered.values()) == sum(len(p.objects.names) for p in patches)


def test_merge_recovers_one_box_per_object(split):
    out, patches = split
    (original,) = read_objects(SAMPLE).values()
    names = sorted(set(original.names))
    results = []
    for patch in patches:
        boxes = Boxes(patch.objects.quads.astype(np.float64), BoxFormat.QBOX).convert(BoxFormat.RBOX)
        scores = np.linspace(0.9, 0.5, len(boxes)) if len(boxes) else np.zeros(0)
        ids = np.array([names.index(n) for n in patch.objects.names], dtype=np.int64)
        results.append(Detections(boxes, scores, ids, names, (256, 256), f"{patch.name}.png"))
    (merged,) = merge_patch_predictions(results)
    assert merged.source == "P1888" and merged.image_size == (557, 712)
    assert len(merged) == len(original.quads)
    expected = Boxes(original.quads.astype(np.float64), BoxFormat.QBOX).convert(BoxFormat.RBOX).data
    for row, cid in zip(merged.boxes.data, merged.class_ids):
        k = int(np.argmin(np.abs(expected[:, :2] - row[:2]).sum(1)))
        assert np.allclose(row[:4], expected[k, :4], atol=1e-3)
        assert names[cid] == original.names[k]
    assert np.all(np.diff(merged.scores) <= 0)


def test_shift_boxes_every_format():
    assert shift_boxes(Boxes([[1, 2, 3, 4]], "xyxy"), 10, 20).data.tolist() == [[11, 22, 13, 24]]
    assert shift_boxes(Boxes([[1, 2, 3, 4, 0.5]], "rbox"), 10, 20).data.tolist() == [[11, 22, 3, 4, 0.5]]
    assert shift_boxes(Boxes([[1, 2, 3, 4]], "cxcywh"), 10, 20).data.tolist() == [[11, 22, 3, 4]]
    assert shift_boxes(Boxes([[0, 0, 1, 0, 1, 1, 0, 1]], "qbox"), 10, 20).data.tolist() == [[10, 20, 11, 20, 11, 21, 10, 21]]


def test_task1_files_round_trip(tmp_path):
    names = ["plane", "ship", "harbor"]
    rboxes = np.array([[100.0, 50.0, 40.0, 20.0, 0.3], [10.0, 20.0, 8.0, 4.0, -1.0]])
    det = Detections(Boxes(rboxes, "rbox"), np.array([0.8765, 0.1]), np.array([0, 2]), names, (200, 200), "dir/P0003.png")
    paths = write_task1([det], names, tmp_path, zip_name="task1.zip")
    assert [p.name for p in paths] == ["Task1_plane.txt", "Task1_ship.txt", "Task1_harbor.txt"]
    assert (tmp_path / "Task1_ship.txt").read_text() == ""
    line = (tmp_path / "Task1_plane.txt").read_text().splitlines()[0]
    quad = Boxes(rboxes[:1], "rbox").convert("qbox").data[0]
    assert line == task1_line("P0003", 0.8765, quad)
    assert line.startswith("P0003 0.88 ") and len(line.split()) == 10
    assert (tmp_path / "Task1_harbor.txt").read_text().split()[1] == "0.1"
    read = read_task1(tmp_path)
    assert read["plane"].images == ["P0003"] and read["plane"].scores.tolist() == [0.88]
    assert np.allclose(read["plane"].quads[0], quad, atol=0.005)
    assert len(read["ship"].images) == 0
    assert sorted(zipfile.ZipFile(tmp_path / "task1.zip").namelist()) == sorted(p.name for p in paths)
