"""Issue 13, part 1: nothing of the user's is ever overwritten, and every file is written atomically.

Each case runs the command as a user would, then checks the exit status, the one-line error and
that the inputs and earlier outputs are byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from yoloxkit.errors import YoloxkitError
from yoloxkit.files import atomic_write, remove_stale_parts, write_json
from yoloxkit.outputs import check_output_file, next_free_dir, prepare_output_dir

from tests.cli_helpers import one_line_error, run_cli, snapshot, write_png, yolo_dataset


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for i in range(3):
        write_png(folder / f"p{i}.png", seed=i)
    return folder


def test_predict_out_holding_the_yolo_labels_is_refused(tmp_path, capfd, nano_checkpoint):
    """The issue's first case: predict DATASET/images --out DATASET --save-txt wrote over labels/."""
    data = yolo_dataset(tmp_path / "ds")
    before = snapshot(data)
    run = run_cli(capfd, "predict", data / "images" / "train", "-w", nano_checkpoint, "--out", data, "--save-txt")
    one_line_error(run, str(data), "holds the input")
    assert snapshot(data) == before


def test_predict_out_holding_a_flat_dataset_is_refused(tmp_path, capfd, nano_checkpoint):
    flat = tmp_path / "flat"
    write_png(flat / "a.png")
    (flat / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    before = snapshot(flat)
    one_line_error(run_cli(capfd, "predict", flat, "-w", nano_checkpoint, "--out", flat, "--save-txt", "--exist-ok"), "is the input")
    assert snapshot(flat) == before


def test_predict_out_equal_to_the_source_is_refused_even_with_exist_ok(photos, capfd, nano_checkpoint):
    before = snapshot(photos)
    one_line_error(run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", photos, "--exist-ok"), "is the input")
    assert snapshot(photos) == before


def test_predict_out_inside_the_source_is_refused(photos, capfd, nano_checkpoint):
    one_line_error(run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", photos / "pred"), "inside the input folder")
    assert not (photos / "pred").exists()


def test_predict_glob_out_holding_matched_files_is_refused(photos, capfd, nano_checkpoint):
    before = snapshot(photos)
    one_line_error(run_cli(capfd, "predict", f"{photos}/*.png", "-w", nano_checkpoint, "--out", photos, "--exist-ok"), "the input")
    assert snapshot(photos) == before


def test_predict_into_earlier_results_needs_exist_ok(photos, tmp_path, capfd, nano_checkpoint):
    out = tmp_path / "pred"
    assert run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", out).code == 0
    earlier = snapshot(out)
    one_line_error(run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", out), "already holds files", "--exist-ok")
    assert snapshot(out) == earlier
    assert run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", out, "--exist-ok").code == 0


def test_predict_out_naming_a_file_is_refused(photos, tmp_path, capfd, nano_checkpoint):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    one_line_error(run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", target), "is a file")
    assert target.read_text() == "mine"


def test_predict_outputs_are_strict_json_and_atomic(photos, tmp_path, capfd, nano_checkpoint):
    out = tmp_path / "pred"
    assert run_cli(capfd, "predict", photos, "-w", nano_checkpoint, "--out", out, "--save-txt").code == 0
    for name in ("predictions.json", "predictions_coco.json", "summary.json"):
        json.loads((out / name).read_text(), parse_constant=lambda c: pytest.fail(f"{name} holds {c}"))
    assert not [p for p in out.rglob("*.part")]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished one-epoch training run of yolox-nano at 64 px on a tiny dataset."""
    from yoloxkit.cli import main

    root = tmp_path_factory.mktemp("run")
    data = yolo_dataset(root / "ds", images=2)
    run = root / "run"
    main_args = ["train", "--data", str(data / "data.yaml"), "--model", "yolox-nano", "--epochs", "1", "--batch", "2",
                 "--size", "64", "--workers", "0", "--out", str(run), "--set", "log.progress=false", "--set", "log.plots=false"]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        main(main_args)
    assert done.value.code in (0, None)
    return data, run


def test_train_over_a_finished_run_is_refused(finished_run, capfd):
    data, run = finished_run
    before = snapshot(run)
    args = ["train", "--data", data / "data.yaml", "--model", "yolox-nano", "--epochs", "1", "--batch", "2", "--size", "64", "--out", run]
    one_line_error(run_cli(capfd, *args), str(run), "--resume", "--exist-ok")
    assert snapshot(run) == before


def test_train_run_folder_holding_the_dataset_is_refused(finished_run, capfd):
    data, _ = finished_run
    before = snapshot(data)
    for out, data_arg in ((data, data / "data.yaml"), (data.parent, data)):
        args = ["train", "--data", data_arg, "--model", "yolox-nano", "--epochs", "1", "--out", out, "--exist-ok"]
        one_line_error(run_cli(capfd, *args), "holds the input" if out != data_arg else "is the input")
    assert snapshot(data) == before


def test_train_run_folder_holding_the_start_weights_is_refused(finished_run, tmp_path, capfd):
    data, run = finished_run
    before = snapshot(run)
    args = ["train", "--data", data / "data.yaml", "--model", "yolox-nano", "--weights", run / "last.pt", "--epochs", "1",
            "--out", run, "--exist-ok"]  # fmt: skip
    one_line_error(run_cli(capfd, *args), "holds the input")
    assert snapshot(run) == before


def test_eval_out_holding_results_is_refused_before_any_work(tmp_path, capfd, nano_checkpoint):
    data = yolo_dataset(tmp_path / "ds")
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text("{}\n")
    before = snapshot(out)
    one_line_error(run_cli(capfd, "eval", "-w", nano_checkpoint, "--data", data / "data.yaml", "--out", out), "already holds files")
    assert snapshot(out) == before


def test_eval_out_naming_the_dataset_is_refused(tmp_path, capfd, nano_checkpoint):
    data = yolo_dataset(tmp_path / "ds")
    before = snapshot(data)
    one_line_error(run_cli(capfd, "eval", "-w", nano_checkpoint, "--data", data, "--out", data, "--exist-ok"), "is the input")
    assert snapshot(data) == before


def test_eval_out_naming_a_file_fails_before_evaluating(tmp_path, capfd, nano_checkpoint):
    data = yolo_dataset(tmp_path / "ds")
    target = tmp_path / "file.txt"
    target.write_text("x")
    one_line_error(run_cli(capfd, "eval", "-w", nano_checkpoint, "--data", data, "--out", target), "is a file")


def test_export_out_holding_the_weights_is_refused(tmp_path, capfd, nano_checkpoint):
    folder = tmp_path / "w"
    folder.mkdir()
    weights = folder / "nano.pth"
    weights.write_bytes(nano_checkpoint.read_bytes())
    before = snapshot(folder)
    one_line_error(run_cli(capfd, "export", "-w", weights, "--out", folder, "--exist-ok", "--no-check"), "holds the input")
    assert snapshot(folder) == before


def test_export_out_naming_a_file_is_refused(tmp_path, capfd, nano_checkpoint):
    target = tmp_path / "model.onnx"
    target.write_text("not mine to replace")
    one_line_error(run_cli(capfd, "export", "-w", nano_checkpoint, "--out", target, "--no-check"), "is a file")
    assert target.read_text() == "not mine to replace"


def test_data_commands_never_write_into_the_dataset(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds")
    before = snapshot(data)
    one_line_error(run_cli(capfd, "data", "convert", data, "--to", "coco", "--out", data), "is the input")
    one_line_error(run_cli(capfd, "data", "convert", data / "data.yaml", "--to", "voc", "--out", data), "holds the input")
    one_line_error(run_cli(capfd, "data", "split", data, "--out", data), "is the input")
    one_line_error(run_cli(capfd, "data", "stats", data, "--out", data, "--exist-ok"), "is the input")
    one_line_error(run_cli(capfd, "data", "check", data, "--fix", data), "is the input")
    one_line_error(run_cli(capfd, "data", "check", data / "data.yaml", "--json", data / "data.yaml"), "is the input")
    assert snapshot(data) == before


def test_data_split_into_an_earlier_split_is_refused(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds")
    out = tmp_path / "split"
    assert run_cli(capfd, "data", "split", data, "--ratios", "0.5,0.5", "--out", out).code == 0
    earlier = snapshot(out)
    one_line_error(run_cli(capfd, "data", "split", data, "--ratios", "0.5,0.5", "--seed", "3", "--out", out), "already holds files")
    assert snapshot(out) == earlier


def test_data_stats_into_earlier_results_needs_exist_ok(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds")
    out = tmp_path / "stats"
    assert run_cli(capfd, "data", "stats", data, "--out", out, "--samples", "1").code == 0
    one_line_error(run_cli(capfd, "data", "stats", data, "--out", out), "--exist-ok")
    assert run_cli(capfd, "data", "stats", data, "--out", out, "--samples", "1", "--exist-ok").code == 0


def test_json_report_naming_a_folder_is_refused_before_work(tmp_path, capfd):
    data = yolo_dataset(tmp_path / "ds")
    folder = tmp_path / "reports"
    folder.mkdir()
    one_line_error(run_cli(capfd, "data", "check", data, "--json", folder), "is a folder")


def test_dota_split_out_holding_the_source_is_refused(tmp_path, capfd):
    src = tmp_path / "dota"
    write_png(src / "images" / "P0001.png")
    (src / "labelTxt").mkdir()
    (src / "labelTxt" / "P0001.txt").write_text("1 1 20 1 20 20 1 20 plane 0\n")
    before = snapshot(src)
    one_line_error(run_cli(capfd, "dota", "split", src, "--out", tmp_path), "holds the input")
    assert snapshot(src) == before


def test_dota_eval_out_naming_a_folder_is_refused(tmp_path, capfd):
    folder = tmp_path / "metrics"
    folder.mkdir()
    one_line_error(run_cli(capfd, "dota", "eval", tmp_path, "--labels", tmp_path, "--out", folder), "is a folder")


def test_demo_keeps_an_earlier_demo(tmp_path):
    earlier = tmp_path / "demo"
    earlier.mkdir()
    (earlier / "result.txt").write_text("keep")
    assert next_free_dir(earlier) == tmp_path / "demo-2"
    (tmp_path / "demo-2").mkdir()
    (tmp_path / "demo-2" / "x").write_text("keep")
    assert next_free_dir(earlier) == tmp_path / "demo-3"
    assert next_free_dir(tmp_path / "new") == tmp_path / "new"


# ------------------------------------------------------------------------------ atomic writes


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "predictions.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.json"]


def test_stale_part_files_of_a_killed_write_are_removed_by_the_next_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"checkpoint")
    (run / ".last.pt.k2j3h4.part").write_bytes(b"")  # what a kill during the checkpoint write leaves
    (run / ".model.xyz.part").mkdir()  # a killed OpenVINO export's staging folder
    prepare_output_dir(run, exist_ok=True)
    assert sorted(p.name for p in run.iterdir()) == ["last.pt"]
    assert remove_stale_parts(run) == 0


def test_a_folder_holding_only_stale_parts_counts_as_empty(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".predictions.json.abc.part").write_bytes(b"{")
    prepare_output_dir(out)  # no --exist-ok needed
    assert not list(out.iterdir())


def test_strict_json_refuses_nan(tmp_path):
    with pytest.raises(YoloxkitError, match="invalid JSON"):
        write_json(tmp_path / "x.json", {"AP": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_output_file_checks(tmp_path):
    (tmp_path / "a").write_text("x")
    with pytest.raises(YoloxkitError, match="is a file, not a folder"):
        check_output_file(tmp_path / "a" / "b" / "report.json")
    with pytest.raises(YoloxkitError, match="is the input"):
        check_output_file(tmp_path / "a", [tmp_path / "a"])
    check_output_file(tmp_path / "new" / "report.json")
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_prepare_output_dir_through_a_symlink_to_the_input(tmp_path):
    source = tmp_path / "photos"
    write_png(source / "a.png")
    link = tmp_path / "link"
    os.symlink(source, link)
    with pytest.raises(YoloxkitError, match="is the input"):
        prepare_output_dir(link, [source], exist_ok=True)


def test_resume_removes_the_part_file_of_a_killed_checkpoint_write(finished_run, capfd):
    """A kill during the checkpoint write leaves ``.last.pt.XXXX.part``; the resumed run removes it."""
    data, run = finished_run
    stale = run / ".last.pt.k1ll3d.part"
    stale.write_bytes(b"")
    result = run_cli(capfd, "train", "--resume", "--out", run, "--epochs", "2")
    assert result.code == 0, result
    assert not stale.exists() and not list(run.rglob("*.part"))
    assert (run / "last.pt").stat().st_size > 0
