"""Deployment benchmark: yolox-s@640 batch 1 in ONNX Runtime and OpenVINO, per precision, vs the reference's eager PyTorch.

The reference (pixeltable-yolox, module ``yolox``) builds yolox-s with a fixed seed; its state
dict is loaded into yoloxkit, which exports it (decode in the graph, static 1x3x640x640, no
NMS: the same outputs as the reference's eager forward) as:

* ``onnxruntime fp32`` / ``openvino fp32``: the FP32 ONNX file and the FP32 IR from it;
* ``openvino bf16``: the same IR compiled with ``INFERENCE_PRECISION_HINT=bf16`` (AMX /
  AVX512-BF16; where the CPU lacks them OpenVINO computes in FP32 and the table says so);
* ``onnxruntime int8`` / ``openvino int8``: post-training INT8 (QDQ) quantisation calibrated on
  32 other COCO128 images, and the IR converted from it.

All run on the same preprocessed COCO128 image in this process, with the same thread count,
alternating (the order rotates every round, so drift in the machine's speed touches all
alike); warm-up rounds are excluded; each figure is the median over the rounds. The ``ratio``
of a backend is its median over the reference's. Target: best ratio <= 0.45. The load
average is recorded before and after (the machine may be shared).

Accuracy: ``max_abs_diff`` (boxes and probabilities) against the reference's output. The seeded
weights are random, so no mAP can be measured here: reduced precisions are gated by
``yoloxkit export --precision ... --check-data`` on a trained model's dataset.

Peak memory per backend: each is opened and run 3 times in a fresh process (after importing
its runtime), peak RSS growth from the kernel's high-water mark (``yoloxkit.export.memory``).

    python benchmarks/deploy.py                       # ~3-5 min on 2 cores (includes INT8 calibration)
    python benchmarks/deploy.py --rounds 30 --json benchmarks/results/deploy.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import add_smoke, apply_smoke, machine

from yoloxkit import Detector
from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import PreprocessContract, preprocess_batch
from yoloxkit.export import ExportOptions, export_model, open_backend
from yoloxkit.export.memory import PeakTracker, run_in_fresh_process
from yoloxkit.models import create

IMAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017" / "000000000009.jpg"
TARGET = 0.45
SEED = 0


def reference_model(name: str = "yolox-s") -> torch.nn.Module:
    """The reference's eager model ``name`` (eval mode), seeded."""
    from yolox.config import YoloxConfig

    torch.manual_seed(SEED)
    return YoloxConfig.get_named_config(name.replace("-", "_")).get_model().eval()


def timed_ms(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def open_case(name: str, path: Path, threads: int):
    """``(batch -> outputs, compute precision)`` of one backend (``reference_eager`` builds the reference)."""
    torch.set_num_threads(threads)
    if name == "reference_eager":
        model = reference_model()
        return (lambda batch: model(torch.from_numpy(batch)).numpy()), "fp32"
    backend = open_backend(path, threads)
    return (lambda batch: backend.run(batch)[0]), backend.compute_precision


def measure_memory(name: str, path: Path, threads: int, batch: np.ndarray) -> dict:
    """Peak RSS growth (MiB) of opening ``name`` and running it 3 times; run in a fresh process."""
    with PeakTracker() as memory, torch.inference_mode():
        run, _ = open_case(name, path, threads)
        loaded = memory.growth_mib()
        for _ in range(3):
            run(batch)
        return {"load_mib": round(loaded, 1), "peak_mib": round(memory.growth_mib(), 1), "method": memory.method}


def export_cases(detector: Detector, folder: Path, calibration: list[np.ndarray]) -> dict[str, Path]:
    """Write the FP32 and INT8 exports; backend name -> model file (bf16 runs the FP32 IR)."""
    name = detector.model_name
    export_model(detector, folder / "fp32", "openvino", ExportOptions(), check=False, log=lambda _: None)
    int8 = ExportOptions(precision="int8")
    export_model(detector, folder / "int8", "openvino", int8, check=False, calibration=calibration, log=lambda _: None)
    bf16 = folder / "bf16"
    export_model(detector, bf16, "openvino", ExportOptions(precision="bf16"), check=False, log=lambda _: None)
    return {
        "onnxruntime fp32": folder / "fp32" / f"{name}.onnx",
        "openvino fp32": folder / "fp32" / f"{name}.xml",
        "openvino bf16": bf16 / f"{name}.xml",
        "onnxruntime int8": folder / "int8" / f"{name}.onnx",
        "openvino int8": folder / "int8" / f"{name}.xml",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (each runs every backend once)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="threads of every backend")
    parser.add_argument("--image", type=Path, default=IMAGE, help="input image (default: a COCO128 image)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-backend peak memory runs")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--model", default="yolox-s", help="model (default yolox-s, the target's case)")
    parser.add_argument("--size", type=int, default=640, help="input size")
    parser.add_argument("--calibration", type=int, default=32, help="INT8 calibration images")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), rounds=1, warmup=0, no_memory=True, model="yolox-nano", size=64, calibration=2)
    if not args.image.is_file():
        sys.exit(f"image not found: {args.image}")
    load_before = os.getloadavg()
    threads = args.threads
    torch.set_num_threads(threads)

    reference = reference_model(args.model)
    model = create(args.model)
    model.load_state_dict(reference.state_dict())
    detector = Detector(model, args.model, contract=PreprocessContract((args.size, args.size)))
    batch, _ = preprocess_batch([read_image(args.image)], detector.contract)
    array = batch.numpy()
    calibration = [read_image(path) for path in sorted(args.image.parent.glob("*.jpg"))[32 : 32 + args.calibration]]

    with tempfile.TemporaryDirectory() as tmp:
        paths = {"reference_eager": Path()} | export_cases(detector, Path(tmp), calibration)
        opened = {name: open_case(name, path, threads) for name, path in paths.items()}
        calls = {name: run for name, (run, _) in opened.items()}
        precision = {name: computed for name, (_, computed) in opened.items()}
        memory = {}
        if not args.no_memory:
            for name, path in paths.items():
                preload = ("onnxruntime",) if path.suffix == ".onnx" else ("openvino",) if path.suffix else ()
                memory[name] = run_in_fresh_process(measure_memory, (name, path, threads, array), ("onnx", *preload))
        with torch.inference_mode():
            expected = calls["reference_eager"](array)
            differences = {}
            for name in paths:
                diff = np.abs(calls[name](array) - expected)
                differences[name] = {"boxes": float(diff[..., :4].max()), "probabilities": float(diff[..., 4:].max())}
            times: dict[str, list[float]] = {name: [] for name in calls}
            names = list(calls)
            for round_index in range(args.warmup + args.rounds):
                order = names[round_index % len(names) :] + names[: round_index % len(names)]
                for name in order:
                    elapsed = timed_ms(lambda: calls[name](array))
                    if round_index >= args.warmup:
                        times[name].append(elapsed)

    medians = {name: statistics.median(values) for name, values in times.items()}
    ref_ms = medians["reference_eager"]
    backends = [name for name in calls if name != "reference_eager"]
    result = {
        "case": f"{args.model} {args.size}x{args.size} batch 1, decoded outputs (no NMS)",
        "provenance": machine(threads),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} threads",
        "threads": threads,
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "rounds": args.rounds,
        "warmup": args.warmup,
        "reference_eager_ms": round(ref_ms, 1),
        "reference_memory": memory.get("reference_eager"),
        "backends": {
            name: {
                "precision": name.split()[1],
                "compute_precision": precision[name],
                "median_ms": round(medians[name], 1),
                "min_ms": round(min(times[name]), 1),
                "ratio": round(medians[name] / ref_ms, 3),
                "max_abs_diff_vs_reference": differences[name],
                "memory": memory.get(name),
            }
            for name in backends
        },
        "target_ratio": TARGET,
    }
    best = min(backends, key=lambda name: result["backends"][name]["ratio"])
    result["ratio"] = result["backends"][best]["ratio"]  # the headline: the best backend over the reference
    fp32 = [name for name in backends if name.endswith("fp32")]
    best_fp32 = min(fp32, key=lambda name: result["backends"][name]["ratio"])
    result |= {"best": best, "target_met": result["backends"][best]["ratio"] <= TARGET, "best_fp32": best_fp32,
               "target_met_fp32": result["backends"][best_fp32]["ratio"] <= TARGET}  # fmt: skip

    print(f"{args.model}@{args.size} batch 1, {threads} threads, median of {args.rounds} alternating rounds; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(f"{'backend':<17} {'computes':>8} {'median ms':>10} {'ratio':>7} {'max|diff| box':>14} {'prob':>8} {'load MiB':>9} {'peak MiB':>9}")
    ref_mem = memory.get("reference_eager") or {}
    print(f"{'reference eager':<17} {'fp32':>8} {ref_ms:>10.1f} {1.0:>7.3f} {'':>14} {'':>8} "
          f"{ref_mem.get('load_mib', float('nan')):>9.1f} {ref_mem.get('peak_mib', float('nan')):>9.1f}")  # fmt: skip
    for name, row in result["backends"].items():
        mem = row["memory"] or {}
        diff = row["max_abs_diff_vs_reference"]
        print(f"{name:<17} {row['compute_precision']:>8} {row['median_ms']:>10.1f} {row['ratio']:>7.3f} {diff['boxes']:>14.2g} "
              f"{diff['probabilities']:>8.2g} {mem.get('load_mib', float('nan')):>9.1f} {mem.get('peak_mib', float('nan')):>9.1f}")  # fmt: skip
    for label, name, met in (("best", best, result["target_met"]), ("best fp32", best_fp32, result["target_met_fp32"])):
        print(f"{label}: {name} at {result['backends'][name]['ratio']:.3f}x the reference (target <= {TARGET}): "
              f"{'met' if met else 'NOT met'}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
