"""Hypothesis fuzz of every dataset reader and of the image reader (issue 13): for any bytes, the
result is a dataset, a collected finding, or one :class:`YoloxkitError`, never another exception.

Each reader gets 1,000 examples: mutations of a valid file (the parser's interesting paths) mixed
with arbitrary text. Files are rewritten in one folder per test, so an example costs milliseconds.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yoloxkit.data.imageheader import header_dimensions
from yoloxkit.data.images import decode_image
from yoloxkit.datasets import Report, load_dataset
from yoloxkit.datasets.imagefiles import image_size, inspect_image
from yoloxkit.errors import YoloxkitError

from tests.cli_helpers import write_png

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None)

VALID = {
    "yolo": "0 0.5 0.5 0.25 0.25\n1 0.1 0.2 0.05 0.05\n",
    "dota": "imagesource:GoogleEarth\ngsd:0.1\n1 1 20 1 20 20 1 20 plane 0\n5 5 30 8 28 30 3 27 ship 1\n",
    "voc": (
        "<annotation><filename>a.png</filename><size><width>80</width><height>64</height><depth>3</depth></size>"
        "<object><name>cat</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax>"
        "<ymax>12</ymax></bndbox></object></annotation>"
    ),
    "coco": json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 64}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 12], "area": 120, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}],
    }),
}

TOKENS = ["0", "1", "-1", "1e309", "nan", "inf", "-0", "0.5", "2", "99999999999999999999", " ", "\n", "\t", "\x00",
          "<", ">", "/", "\"", ",", "{", "}", "[", "]", ":", "é", "\ufeff", "null", "true", "cat", "plane"]  # fmt: skip


@st.composite
def mutated(draw, valid: str) -> str:
    """The valid text with random edits: cuts, insertions of tokens, replaced characters, or random text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    text = valid
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["cut", "insert", "replace", "truncate", "duplicate"]))
        if action == "cut":
            text = text[:position] + text[position + draw(st.integers(1, 8)) :]
        elif action == "insert":
            text = text[:position] + draw(st.sampled_from(TOKENS)) + text[position:]
        elif action == "replace" and text:
            position = min(position, len(text) - 1)
            text = text[:position] + draw(st.characters()) + text[position + 1 :]
        elif action == "truncate":
            text = text[:position]
        else:
            text = text[:position] + text[position:] * 2
    return text


def _ok_or_one_line(call) -> None:
    """Success, a collected report, or a one-line YoloxkitError: nothing else may escape."""
    for strict in (True, False):
        try:
            call(Report(strict=strict))
        except YoloxkitError as exc:
            assert "\n" not in str(exc).strip(), str(exc)


@pytest.fixture(scope="module")
def folder() -> Path:
    with tempfile.TemporaryDirectory(prefix="yoloxkit-fuzz-") as tmp:
        yield Path(tmp)


def _layout(root: Path, fmt: str) -> Path:
    """One image plus the annotation file of ``fmt``; returns the annotation file to fuzz."""
    if fmt == "yolo":
        write_png(root / "images" / "train" / "a.png")
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "data.yaml").write_text("train: images/train\nnames: [cat, dog]\n")
        return root / "labels" / "train" / "a.txt"
    if fmt == "dota":
        write_png(root / "images" / "a.png")
        (root / "labelTxt").mkdir(parents=True, exist_ok=True)
        return root / "labelTxt" / "a.txt"
    if fmt == "voc":
        write_png(root / "JPEGImages" / "a.png")
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        return root / "Annotations" / "a.xml"
    write_png(root / "images" / "a.png")
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    return root / "annotations" / "instances_train.json"


@pytest.mark.parametrize("fmt", ["yolo", "voc", "coco", "dota"])
def test_dataset_readers_never_raise_anything_else(fmt, folder):
    root = folder / fmt
    target = _layout(root, fmt)
    source = root / "data.yaml" if fmt == "yolo" else root
    target.write_text(VALID[fmt])
    assert load_dataset(source, Report(), fmt).num_objects >= 1  # the valid file reads

    @FUZZ
    @given(text=mutated(VALID[fmt]), binary=st.booleans())
    def check(text: str, binary: bool) -> None:
        target.write_bytes(text.encode("utf-8", "surrogatepass")[::-1] if binary else text.encode("utf-8", "surrogatepass"))
        _ok_or_one_line(lambda report: load_dataset(source, report, fmt))

    check()


def _valid_images() -> dict[str, bytes]:
    image = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return {suffix: cv2.imencode(suffix, image)[1].tobytes() for suffix in (".png", ".jpg", ".bmp", ".tif", ".webp")}


IMAGES = _valid_images()


@st.composite
def mutated_image(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(IMAGES)))
    data = bytearray(IMAGES[suffix])
    for _ in range(draw(st.integers(0, 8))):
        action = draw(st.sampled_from(["flip", "truncate", "huge", "zero"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            data = data[:position]
        elif action == "huge" and len(data) > 30:  # header fields that claim enormous sizes
            start = draw(st.integers(0, min(30, len(data) - 4)))
            data[start : start + 4] = b"\xff\xff\xff\x7f"
        elif action == "zero" and data:
            data[position] = 0
    if draw(st.integers(0, 9)) == 0:
        data = bytearray(draw(st.binary(max_size=300)))
    return suffix, bytes(data)


def test_image_reader_never_raises_anything_else(folder):
    path_of = {suffix: folder / f"image{suffix}" for suffix in IMAGES}

    @FUZZ
    @given(case=mutated_image())
    def check(case: tuple[str, bytes]) -> None:
        suffix, data = case
        header_dimensions(data)  # never raises
        for call in (lambda: decode_image(data, "fuzz"), lambda: image_size(path_of[suffix])):
            path_of[suffix].write_bytes(data)
            try:
                result = call()
            except YoloxkitError as exc:
                assert "\n" not in str(exc).strip()
                continue
            assert result is not None
        size, problem, _ = inspect_image(path_of[suffix])
        assert (size is None) == (problem is not None)

    check()
