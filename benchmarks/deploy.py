"""Deployment benchmark: yolox-s@640 batch 1, ONNX Runtime and OpenVINO vs the reference's eager PyTorch.

The reference (pixeltable-yolox, module ``yolox``) builds yolox-s with a fixed seed; its state
dict is loaded into yoloxkit, which exports it (decode in the graph, static 1x3x640x640, no
NMS: the same outputs as the reference's eager forward) to ONNX and to an OpenVINO FP32 IR.
All three run on the same preprocessed COCO128 image in this process, with the same thread
count, alternating (the order rotates every round, so drift in the machine's speed touches
all alike); warm-up rounds are excluded; each figure is the median over the rounds. The
``ratio`` of a backend is its median over the reference's. Target: best ratio <= 0.45.

    python benchmarks/deploy.py                       # ~1-2 min on 2 cores
    python benchmarks/deploy.py --rounds 30 --json deploy.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from yoloxkit import Detector
from yoloxkit.data.images import read_image
from yoloxkit.data.preprocess import preprocess_batch
from yoloxkit.export import ExportOptions, export_model, open_backend
from yoloxkit.models import create

IMAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "coco128" / "images" / "train2017" / "000000000009.jpg"
TARGET = 0.45
SEED = 0


def reference_model() -> torch.nn.Module:
    """The reference's eager yolox-s (eval mode), seeded."""
    from yolox.config import YoloxConfig

    torch.manual_seed(SEED)
    return YoloxConfig.get_named_config("yolox_s").get_model().eval()


def timed_ms(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (each runs every backend once)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--image", type=Path, default=IMAGE, help="input image (default: a COCO128 image)")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    args = parser.parse_args()
    if not args.image.is_file():
        sys.exit(f"image not found: {args.image}")

    reference = reference_model()
    model = create("yolox-s")
    model.load_state_dict(reference.state_dict())
    detector = Detector(model, "yolox-s")
    batch, _ = preprocess_batch([read_image(args.image)], detector.contract)
    array = batch.numpy()
    threads = torch.get_num_threads()

    with tempfile.TemporaryDirectory() as tmp:
        export_model(detector, tmp, "openvino", ExportOptions(), check=False, log=lambda _: None)
        backends = {"onnxruntime": open_backend(Path(tmp) / "yolox-s.onnx"), "openvino": open_backend(Path(tmp) / "yolox-s.xml")}
        calls = {"reference_eager": lambda: reference(batch)} | {name: (lambda b=b: b.run(array)) for name, b in backends.items()}
        with torch.inference_mode():
            expected = reference(batch).numpy()
            differences = {name: float(np.abs(b.run(array)[0] - expected).max()) for name, b in backends.items()}
            times: dict[str, list[float]] = {name: [] for name in calls}
            names = list(calls)
            for round_index in range(args.warmup + args.rounds):
                order = names[round_index % len(names) :] + names[: round_index % len(names)]
                for name in order:
                    elapsed = timed_ms(calls[name])
                    if round_index >= args.warmup:
                        times[name].append(elapsed)

    medians = {name: statistics.median(values) for name, values in times.items()}
    ref_ms = medians["reference_eager"]
    result = {
        "case": "yolox-s 640x640 batch 1, decoded outputs (no NMS)",
        "machine": f"{platform.processor() or platform.machine()}, {threads} threads",
        "threads": threads,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "reference_eager_ms": round(ref_ms, 1),
        "backends": {
            name: {
                "median_ms": round(medians[name], 1),
                "min_ms": round(min(times[name]), 1),
                "ratio": round(medians[name] / ref_ms, 3),
                "max_abs_diff_vs_reference": differences[name],
            }
            for name in backends
        },
        "target_ratio": TARGET,
    }
    best = min(result["backends"], key=lambda name: result["backends"][name]["ratio"])
    result["best"] = best
    result["target_met"] = result["backends"][best]["ratio"] <= TARGET

    print(f"yolox-s@640 batch 1, {threads} threads, median of {args.rounds} alternating rounds")
    print(f"{'backend':<16} {'median ms':>10} {'ratio':>7} {'max|diff|':>10}")
    print(f"{'reference eager':<16} {ref_ms:>10.1f} {1.0:>7.3f} {'':>10}")
    for name, row in result["backends"].items():
        print(f"{name:<16} {row['median_ms']:>10.1f} {row['ratio']:>7.3f} {row['max_abs_diff_vs_reference']:>10.2g}")
    print(f"best: {best} at {result['backends'][best]['ratio']:.3f}x the reference (target <= {TARGET}): "
          f"{'met' if result['target_met'] else 'NOT met'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
