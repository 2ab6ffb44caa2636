"""Rotated IoU and rotated NMS on a GPU against the same calls on the CPU (all its threads).

Prints one line per case: pairwise ``rotated_iou`` of n x n random rboxes (sides 4-100 px, le90
angles) with centres in a 128 px square (dense: many pairs overlap) or a 1024 px patch (sparse),
GPU time (mean of 5 after 2 warm-up calls, synchronised) and CPU time (one call), and the largest
difference of the two results; then class-aware rotated NMS (threshold 0.1) of 20,000 boxes in 15
classes on a 4096 px scene, on each device, with the number kept. This is the script behind
``benchmarks/results/gpu/rotated_ops_gpu.txt`` (run on an H200 before the GPU chunk budget of
``ops/nms.py``; ``benchmarks/nms_chunks.py`` measures that change).

    python benchmarks/rotated_ops_gpu.py > benchmarks/results/gpu/rotated_ops_gpu.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from common import add_smoke, machine
from rotated_ops import random_rboxes

from yoloxkit.ops import batched_rotated_nms
from yoloxkit.ops.rotated import rotated_iou


def boxes(n: int, extent: float, seed: int) -> torch.Tensor:
    """``[n, 5]`` rboxes of :func:`rotated_ops.random_rboxes` (sides 4-100 px) from ``seed``."""
    return random_rboxes(torch.Generator().manual_seed(seed), n, extent)


def synchronised(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    add_smoke(parser)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.smoke:
        sys.exit("no CUDA device: this benchmark compares the GPU with the CPU")
    # --smoke without a GPU runs the "GPU" side on the CPU: it checks the script, measures nothing.
    sizes = [(40, 128)] if args.smoke else [(1000, 128), (1000, 1024), (5000, 1024)]
    nms_boxes = 200 if args.smoke else 20000
    rows = []
    for n, extent in sizes:
        a, b = boxes(n, extent, 0), boxes(n, extent, 1)
        a_gpu, b_gpu = a.to(device), b.to(device)
        for _ in range(2):
            rotated_iou(a_gpu, b_gpu)
            synchronised(device)
        repeats = 5
        start = time.perf_counter()
        for _ in range(repeats):
            on_gpu = rotated_iou(a_gpu, b_gpu)
        synchronised(device)
        gpu = (time.perf_counter() - start) / repeats
        start = time.perf_counter()
        on_cpu = rotated_iou(a, b)
        cpu = time.perf_counter() - start
        diff = (on_gpu.cpu() - on_cpu).abs().max()
        rows.append({"case": f"rotated_iou {n}x{n} extent {extent}", "gpu_ms": gpu * 1e3, "cpu_ms": cpu * 1e3, "ratio": gpu / cpu, "max_diff": float(diff)})
        print(f"rotated_iou {n}x{n} extent {extent}: gpu {gpu * 1e3:.1f} ms, cpu({torch.get_num_threads()} thr) {cpu * 1e3:.1f} ms, max diff {diff:.2e}")
    scores = torch.rand(nms_boxes, generator=torch.Generator().manual_seed(2))
    scene, classes = boxes(nms_boxes, 4096, 3), torch.randint(0, 15, (nms_boxes,))
    for where in [device, "cpu"]:
        x, s, c = scene.to(where), scores.to(where), classes.to(where)
        batched_rotated_nms(x, s, c, 0.1)
        synchronised(where)
        start = time.perf_counter()
        keep = batched_rotated_nms(x, s, c, 0.1)
        synchronised(where)
        print(f"batched_rotated_nms {nms_boxes} boxes 15 classes on {where}: {(time.perf_counter() - start) * 1e3:.1f} ms, kept {len(keep)}")
    if args.json:
        report = {"device": device, "ratio": rows[0]["ratio"], "ratio_is": "dense rotated IoU: GPU time / CPU time", "cases": rows, "provenance": machine()}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
