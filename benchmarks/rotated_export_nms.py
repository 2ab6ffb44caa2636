"""Rotated export: the numbers behind "rotated NMS on the host, not in the graph" (docs/deployment.md).

Parts:

* ``iou_graph``: the dense pairwise exact rotated IoU of K boxes (``yoloxkit.ops.rotated._iou`` on
  ``[K, 1, 5] x [1, K, 5]``, float64, no circle pre-test: that test is data-dependent) exported to
  ONNX with a dynamic K, run by ONNX Runtime and by OpenVINO's CPU plugin (as yoloxkit's backend
  compiles it, precision hint f32, and without a hint: :data:`RUNTIMES`), against PyTorch's
  ``rotated_iou`` (circle pre-test) on the same boxes: K random rboxes with sides 4-80 px in a
  1024 px image. ``max_diff`` = max |IoU - PyTorch's|; ``flips`` = pairs on the other side of
  IoU 0.1 (the rotated NMS threshold) than PyTorch's. Each runtime runs in its own process, whose
  peak RSS is reported.
* ``model``: a random rotated-yolox-nano at 1024x1024 (15 classes, seed 0), conditioned as the
  export tests' models are (``tests.export.conftest.conditioned_detector``: BN statistics from real
  images, prediction convs rescaled so that scores spread and boxes overlap; a stock random
  network scores 1e-4 everywhere and detects nothing), exported to ONNX, on ``--images`` COCO128 images: the network per image (ONNX Runtime), the host
  postprocess (``rotated_postprocess`` at the metadata's 0.01 / 0.1) per image with its
  candidates (score >= 0.01) and detections, and the export's parity check
  (``check_parity``: detections compared, ``unmatched`` per side, ``explained`` NMS swaps and
  threshold rows).

Everything runs with one thread; times are medians of ``--repeats`` runs after a warm-up.
``machine.load_average`` is the 1-minute load before and after (a shared machine slows every part).

    python benchmarks/rotated_export_nms.py --json benchmarks/results/rotated_export_nms.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import add_smoke, apply_smoke, machine

from yoloxkit.files import atomic_write
from yoloxkit.ops import rotated_iou, rotated_postprocess
from yoloxkit.ops.rotated import _iou  # the traceable dense form (no data-dependent pre-test)

SIZES = (300, 1000)
#: ``openvino``: compiled as :class:`~yoloxkit.export.backends.OpenVINOBackend` compiles (precision
#: hint f32); ``openvino-default``: without a precision hint (the plugin's own choice).
RUNTIMES = ("pytorch", "onnxruntime", "openvino", "openvino-default")
IOU_THRESHOLD = 0.1


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls after one warm-up call, and the last result."""
    result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def random_rboxes(count: int, seed: int = 0) -> torch.Tensor:
    """``count`` float64 rboxes: centres in a 1024 px image, sides 4-80 px, le90 angles."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(count, 2, generator=gen, dtype=torch.float64) * 1024
    sides = torch.rand(count, 2, generator=gen, dtype=torch.float64) * 76 + 4
    angles = (torch.rand(count, 1, generator=gen, dtype=torch.float64) - 0.5) * math.pi
    return torch.cat([centres, sides, angles], 1)


class DenseRotatedIoU(torch.nn.Module):
    """``[K, 5]`` float64 rboxes -> ``[K, K]`` exact IoU of every pair (the traceable in-graph form)."""

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        return _iou(boxes[:, None], boxes[None])


def export_iou_graph(path: Path) -> int:
    """Write the dense IoU graph (dynamic K) to ``path``; returns its size in bytes."""
    torch.onnx.export(
        DenseRotatedIoU(), (random_rboxes(8),), str(path), dynamo=False, opset_version=17,
        input_names=["boxes"], output_names=["iou"], dynamic_axes={"boxes": {0: "K"}, "iou": {0: "K", 1: "K"}},
    )  # fmt: skip
    return path.stat().st_size


def iou_runner(runtime: str, graph: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A one-thread ``boxes -> IoU`` function of ``runtime``."""
    if runtime == "pytorch":
        return lambda boxes: rotated_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        return lambda boxes: session.run(None, {"boxes": boxes})[0]
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    if runtime == "openvino":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = ov.Core().compile_model(str(graph), "CPU", config)
    request = compiled.create_infer_request()
    return lambda boxes: np.array(request.infer({0: boxes})[compiled.outputs[0]])


def measure_iou(runtime: str, count: int, graph: Path, repeats: int) -> dict:
    """One runtime's IoU of ``count`` boxes: time, and its difference from PyTorch's."""
    boxes = random_rboxes(count)
    run = iou_runner(runtime, graph)
    seconds, result = median_seconds(lambda: run(boxes.numpy()), repeats)
    expected = rotated_iou(boxes, boxes).numpy()
    dtype = str(np.asarray(result).dtype)
    result = np.asarray(result, dtype=np.float64)
    return {
        "ms": seconds * 1e3,
        "max_diff": float(np.abs(result - expected).max()),
        "flips": int(((result >= IOU_THRESHOLD) != (expected >= IOU_THRESHOLD)).sum()),
        "output_dtype": dtype,
    }


def measure_model(images: int, repeats: int, size: int = 1024) -> dict:
    """The random rotated-yolox-nano at 1024 through ONNX Runtime: network, host postprocess, parity."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/
    from tests.export.conftest import conditioned_detector
    from yoloxkit.data.preprocess import preprocess_batch
    from tests.conftest import COCO128_IMAGES
    from yoloxkit.data.sources import load_images
    from yoloxkit.export import check_parity, export_model, open_backend

    detector = conditioned_detector("rotated-yolox-nano", size=size, num_classes=15)
    pictures = load_images(COCO128_IMAGES, images)  # real images (../shared), as before
    with tempfile.TemporaryDirectory() as folder:
        export_model(detector, folder, "onnx", check=False, log=lambda _: None)
        backend = open_backend(Path(folder) / "rotated-yolox-nano.onnx", threads=1)
        settings = backend.metadata.postprocess
        network, host, candidates, detections = [], [], [], []
        for picture in pictures:
            batch, _ = preprocess_batch([picture], detector.contract)
            seconds, (outputs,) = median_seconds(lambda: backend.run(batch.numpy()), repeats)
            network.append(seconds)
            decoded = torch.from_numpy(outputs)
            seconds, (rows,) = median_seconds(lambda: rotated_postprocess(decoded, settings.conf, settings.iou), repeats)
            host.append(seconds)
            scores = decoded[0, :, 5:6] * decoded[0, :, 6:]
            candidates.append(int((scores.max(1).values >= settings.conf).sum()))
            detections.append(len(rows))
        report = check_parity(detector, backend, pictures)
    return {
        "points": int(decoded.shape[1]),
        "network_ms": [s * 1e3 for s in network],
        "host_postprocess_s": host,
        "candidates": candidates,
        "detections": detections,
        "parity": {k: report.to_dict()[k] for k in ("detections", "unmatched", "explained", "passed", "max_abs", "failures")},
    }


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints its JSON with this process's peak RSS."""
    torch.set_num_threads(1)
    if args.part == "iou":
        result = measure_iou(args.runtime, args.count, Path(args.graph), args.repeats)
    else:
        result = measure_model(args.images, args.repeats, args.size)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(json.dumps(result))


def in_child(*options: str) -> dict:
    """Run ``child`` in a fresh interpreter with ``options``; its JSON result."""
    done = subprocess.run([sys.executable, __file__, *options], capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"{' '.join(options)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="COCO128 images for the model part")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--part", choices=("iou", "model"), help=argparse.SUPPRESS)  # child processes
    parser.add_argument("--runtime", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--graph", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1024, help="input size of the model part")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="box counts of the in-graph IoU part")
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), images=1, repeats=1, size=128, sizes=[30])
    if args.part:
        child(args)
        return
    load_before = os.getloadavg()[0]
    results: dict = {"iou_graph": {}, "settings": {"threads": 1, "repeats": args.repeats, "iou_threshold": IOU_THRESHOLD}}
    with tempfile.TemporaryDirectory() as folder:
        graph = Path(folder) / "rotated_iou.onnx"
        results["iou_graph"]["graph_bytes"] = export_iou_graph(graph)
        for count in args.sizes:
            row = {}
            for runtime in RUNTIMES:
                row[runtime] = in_child("--part", "iou", "--runtime", runtime, "--count", str(count),
                                        "--graph", str(graph), "--repeats", str(args.repeats))  # fmt: skip
                found = row[runtime]
                print(f"IoU of {count} boxes, {runtime:16s}: {found['ms']:9.1f} ms, max diff {found['max_diff']:.3g}, "
                      f"{found['flips']} flips at {IOU_THRESHOLD}, peak RSS {found['peak_rss_gb']:.2f} GB")  # fmt: skip
            results["iou_graph"][str(count)] = row
    model = results["model"] = in_child("--part", "model", "--images", str(args.images), "--repeats", str(args.repeats), "--size", str(args.size))
    print(f"rotated-yolox-nano {args.size} (random, conditioned), {args.images} images, {model['points']} points: "
          f"network {min(model['network_ms']):.0f}-{max(model['network_ms']):.0f} ms, host postprocess "
          f"{min(model['host_postprocess_s']):.2f}-{max(model['host_postprocess_s']):.2f} s for "
          f"{min(model['candidates'])}-{max(model['candidates'])} candidates -> "
          f"{min(model['detections'])}-{max(model['detections'])} detections")  # fmt: skip
    parity = model["parity"]
    print(f"parity: {parity['detections']} PyTorch detections, {parity['unmatched']} unmatched (per side), "
          f"{parity['explained']} explained, passed {parity['passed']}")  # fmt: skip
    results["machine"] = {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__,
        "load_average": [load_before, os.getloadavg()[0]],
    }  # fmt: skip
    results["ratio"] = statistics.median(model["host_postprocess_s"]) * 1e3 / statistics.median(model["network_ms"])
    results["ratio_is"] = "host rotated postprocess time / ONNX Runtime network time (median per image)"
    results["provenance"] = machine(1)
    if args.json:
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(results, indent=1).encode())


if __name__ == "__main__":
    main()
