"""Greedy NMS chunk budget on a GPU: the CPU budget (2^18 IoU entries per chunk) against the GPU one.

``yoloxkit.ops.nms.greedy_nms`` compares boxes in row chunks of at most ``budget`` IoU entries;
each chunk costs kernel launches and a host synchronisation (``nonzero``). On a GPU the larger
budget (``_CHUNK_ELEMENTS_GPU``) means fewer chunks. Cases: class-aware rotated NMS (threshold
0.1, the reference's) and axis-aligned NMS (0.45) of 20,000 boxes in 15 classes spread over a
4096 px image (a merged DOTA scene). Both budgets run in turn, ``--repeats`` times each; the kept
indices must be identical. ``ratio`` = GPU-budget time / CPU-budget time (lower is better).

    python benchmarks/nms_chunks.py --device cuda --json benchmarks/results/gpu/nms_chunks.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time

import torch
from common import add_smoke, apply_smoke, machine
from rotated_ops import random_rboxes

from yoloxkit.files import atomic_write
from yoloxkit.ops import batched_nms, batched_rotated_nms

# The module, not the function ``yoloxkit.ops.nms`` that its package exports under the same name.
nms_module = importlib.import_module("yoloxkit.ops.nms")


def scene(n: int, classes: int, extent: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` rboxes (float32, sides 4-100 px, le90 angles), scores and classes."""
    gen = torch.Generator().manual_seed(seed)
    return random_rboxes(gen, n, extent), torch.rand(n, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def timed(run, device: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds of one call (synchronised) and its result."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--boxes", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(), boxes=500, repeats=1)
    device = torch.device(args.device)
    rboxes, scores, classes = scene(args.boxes, 15, 4096.0, seed=0)
    corners = torch.cat([rboxes[:, :2] - rboxes[:, 2:4] / 2, rboxes[:, :2] + rboxes[:, 2:4] / 2], 1)
    rboxes, corners, scores, classes = (t.to(device) for t in (rboxes, corners, scores, classes))
    cases = {
        "rotated": lambda: batched_rotated_nms(rboxes, scores, classes, 0.1),
        "axis_aligned": lambda: batched_nms(corners, scores, classes, 0.45),
    }
    budgets = {"cpu_budget": nms_module._CHUNK_ELEMENTS, "gpu_budget": nms_module._CHUNK_ELEMENTS_GPU}
    saved = nms_module._CHUNK_ELEMENTS_GPU
    results = {}
    for name, run in cases.items():
        times: dict[str, list[float]] = {key: [] for key in budgets}
        kept = {}
        for repeat in range(args.repeats + 1):  # the first round warms up
            order = list(budgets) if repeat % 2 == 0 else list(budgets)[::-1]
            for key in order:
                nms_module._CHUNK_ELEMENTS_GPU = budgets[key]
                seconds, kept[key] = timed(run, device)
                if repeat:
                    times[key].append(seconds)
        nms_module._CHUNK_ELEMENTS_GPU = saved
        median = {key: statistics.median(values) for key, values in times.items()}
        results[name] = {
            **{f"{key}_s": value for key, value in median.items()},
            "ratio": median["gpu_budget"] / median["cpu_budget"],
            "kept": len(kept["gpu_budget"]),
            "same_keep": torch.equal(kept["gpu_budget"], kept["cpu_budget"]),
        }
        print(f"{name:13s} {args.boxes} boxes on {device}: cpu budget {median['cpu_budget'] * 1e3:7.1f} ms, "
              f"gpu budget {median['gpu_budget'] * 1e3:7.1f} ms, ratio {results[name]['ratio']:.2f}, "
              f"kept {results[name]['kept']}, same {results[name]['same_keep']}")  # fmt: skip
    if args.json:
        report = {"device": str(device), "torch": torch.__version__, "budgets": budgets, "cases": results,
                  "ratio": results["rotated"]["ratio"], "ratio_is": "rotated NMS: GPU chunk budget / CPU chunk budget",
                  "provenance": machine()}  # fmt: skip
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(report, indent=1).encode())


if __name__ == "__main__":
    main()
