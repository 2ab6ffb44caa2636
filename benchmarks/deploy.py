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

The arithmetic limit (issue 16): the machine's float32 peak is measured in the same rounds (a
``--matmul`` x ``--matmul`` float32 matmul on the same threads, its GFLOP/s), the model's GFLOPs
are counted from the network (``yoloxkit.models.count_gflops``: 26.7 for yolox-s@640), and every
float32 backend (and eager yoloxkit, NCHW and channels_last) is reported as a multiple of the
limit = GFLOPs / peak. Goal: the best float32 backend <= 1.4x the limit.

    python benchmarks/deploy.py                       # ~3-5 min on 2 cores (includes INT8 calibration)
    python benchmarks/deploy.py --rounds 30 --json benchmarks/results/deploy.json
"""

from __future__ import annotations

import argparse
import copy
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
from yoloxkit.models import count_gflops, create

IMAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017" / "000000000009.jpg"
TARGET = 0.45
LIMIT_GOAL = 1.4
SEED = 0
PEAK = "fp32 matmul peak"
#: Eager yoloxkit in both memory formats, timed beside the exported backends.
EAGER = ("yoloxkit eager fp32", "yoloxkit eager_cl fp32")


def reference_model(name: str = "yolox-s") -> torch.nn.Module:
    """The reference's eager model ``name`` (eval mode), seeded."""
    from yolox.config import YoloxConfig

    torch.manual_seed(SEED)
    return YoloxConfig.get_named_config(name.replace("-", "_")).get_model().eval()


def timed_ms(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def eager_cases(detector: Detector, threads: int) -> dict:
    """yoloxkit's eager forward (decoded outputs, as the exports), NCHW and channels_last."""
    torch.set_num_threads(threads)
    model = detector.model.eval()
    channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def run(net: torch.nn.Module, layout: torch.memory_format):
        def call(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return net(torch.from_numpy(batch).contiguous(memory_format=layout)).numpy()

        return call

    return {EAGER[0]: run(model, torch.contiguous_format), EAGER[1]: run(channels_last, torch.channels_last)}


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
    parser.add_argument("--matmul", type=int, default=2048, help="side of the float32 matmul that measures the machine's peak")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), rounds=1, warmup=0, no_memory=True, model="yolox-nano", size=64, calibration=2, matmul=256)
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
        calls |= eager_cases(detector, threads)
        precision |= {name: "fp32" for name in EAGER}
        memory = {}
        if not args.no_memory:
            for name, path in paths.items():
                preload = ("onnxruntime",) if path.suffix == ".onnx" else ("openvino",) if path.suffix else ()
                memory[name] = run_in_fresh_process(measure_memory, (name, path, threads, array), ("onnx", *preload))
        with torch.inference_mode():
            expected = calls["reference_eager"](array)
            differences = {}
            for name in calls:
                diff = np.abs(calls[name](array) - expected)
                differences[name] = {"boxes": float(diff[..., :4].max()), "probabilities": float(diff[..., 4:].max())}
            matmul = torch.randn(args.matmul, args.matmul), torch.randn(args.matmul, args.matmul)
            calls[PEAK] = lambda _: torch.matmul(*matmul)
            times: dict[str, list[float]] = {name: [] for name in calls}
            names = list(calls)
            for round_index in range(args.warmup + args.rounds):
                order = names[round_index % len(names) :] + names[: round_index % len(names)]
                for name in order:
                    elapsed = timed_ms(lambda: calls[name](array))
                    if round_index >= args.warmup:
                        times[name].append(elapsed)
            del calls[PEAK]

    medians = {name: statistics.median(values) for name, values in times.items()}
    ref_ms = medians["reference_eager"]
    peak_gflops = 2 * args.matmul**3 / 1e9 / (min(times[PEAK]) / 1000)  # the best round: the machine's peak
    gflops = count_gflops(model, (args.size, args.size))
    limit_ms = gflops / peak_gflops * 1000
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
                "multiple_of_limit": round(medians[name] / limit_ms, 3) if precision[name] == "fp32" else None,
                "max_abs_diff_vs_reference": differences[name],
                "memory": memory.get(name),
            }
            for name in backends
        },
        "target_ratio": TARGET,
        "arithmetic_limit": {"model_gflops": round(gflops, 2), "fp32_peak_gflops_per_s": round(peak_gflops, 1),
                             "matmul": args.matmul, "limit_ms": round(limit_ms, 1), "goal_multiple": LIMIT_GOAL,
                             "reference_eager_multiple": round(ref_ms / limit_ms, 3)},  # fmt: skip
    }
    best = min(backends, key=lambda name: result["backends"][name]["ratio"])
    result["ratio"] = result["backends"][best]["ratio"]  # the headline: the best backend over the reference
    fp32 = [name for name in backends if name.endswith("fp32") and name not in EAGER]
    best_fp32 = min(fp32, key=lambda name: result["backends"][name]["ratio"])
    result["arithmetic_limit"] |= {"best_fp32": best_fp32, "best_fp32_multiple": result["backends"][best_fp32]["multiple_of_limit"]}
    result |= {"best": best, "target_met": result["backends"][best]["ratio"] <= TARGET, "best_fp32": best_fp32,
               "target_met_fp32": result["backends"][best_fp32]["ratio"] <= TARGET}  # fmt: skip

    print(f"{args.model}@{args.size} batch 1, {threads} threads, median of {args.rounds} alternating rounds; "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(f"{'backend':<22} {'computes':>8} {'median ms':>10} {'ratio':>7} {'max|diff| box':>14} {'prob':>8} {'load MiB':>9} {'peak MiB':>9}")
    ref_mem = memory.get("reference_eager") or {}
    print(f"{'reference eager':<22} {'fp32':>8} {ref_ms:>10.1f} {1.0:>7.3f} {'':>14} {'':>8} "
          f"{ref_mem.get('load_mib', float('nan')):>9.1f} {ref_mem.get('peak_mib', float('nan')):>9.1f}")  # fmt: skip
    for name, row in result["backends"].items():
        mem = row["memory"] or {}
        diff = row["max_abs_diff_vs_reference"]
        print(f"{name:<22} {row['compute_precision']:>8} {row['median_ms']:>10.1f} {row['ratio']:>7.3f} {diff['boxes']:>14.2g} "
              f"{diff['probabilities']:>8.2g} {mem.get('load_mib', float('nan')):>9.1f} {mem.get('peak_mib', float('nan')):>9.1f}")  # fmt: skip
    for label, name, met in (("best", best, result["target_met"]), ("best fp32", best_fp32, result["target_met_fp32"])):
        print(f"{label}: {name} at {result['backends'][name]['ratio']:.3f}x the reference (target <= {TARGET}): "
              f"{'met' if met else 'NOT met'}")  # fmt: skip
    limit = result["arithmetic_limit"]
    print(f"arithmetic limit: {gflops:.1f} GFLOP / {peak_gflops:.0f} GFLOP/s float32 peak ({args.matmul}^2 matmul) = {limit_ms:.1f} ms; "
          + ", ".join(f"{n} {result['backends'][n]['multiple_of_limit']:.2f}x" for n in backends if result["backends"][n]["multiple_of_limit"])
          + f"; reference eager {limit['reference_eager_multiple']:.2f}x (goal: best fp32 backend <= {LIMIT_GOAL}x)")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
