"""What each inference optimisation is worth: forward time with one step switched off at a time.

Variants, all measured in one process, in a rotating order each repeat (this machine drifts),
each timing one forward call on real COCO128 images, median over the repeats:

* ``reference``        the reference's eval model (pixeltable-yolox);
* ``plain``            yoloxkit's model as trained (BatchNorm not folded);
* ``bn-folded``        ``fused_copy``: BN folded, nothing else (what ``predict`` ran before);
* ``optimised``        ``optimize_for_inference`` with every step (what ``predict`` runs now);
* ``no-<step>``        ``optimised`` with that one step switched off.

Weights are those of ``benchmarks/inference.py`` (calibrated reference weights, loaded into
yoloxkit), so all variants compute the same function.

    python benchmarks/inference_ablation.py                   # yolox-s 640, batch 1
    python benchmarks/inference_ablation.py --case nano-416-1 --repeats 21 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke, apply_smoke, machine
from inference import CASES, IMAGE_DIR, SMOKE_CASE, calibrated_reference, image_paths, load_batch

STEPS = ("channels_last", "onednn", "focus_conv", "cascade_spp", "fast_head")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="s-640-1", choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path)
    add_smoke(parser)
    args = apply_smoke(parser.parse_args(argv), repeats=1)

    from yoloxkit.models import create
    from yoloxkit.models.fuse import fused_copy
    from yoloxkit.models.inference import optimize_for_inference

    torch.set_num_threads(args.threads)
    case = SMOKE_CASE if args.smoke else CASES[args.case]
    paths = image_paths(IMAGE_DIR)
    calibration = [load_batch(paths[8:16], case.size), load_batch(paths[16:24], case.size)]
    ref = calibrated_reference(case.ref_config, calibration, load_batch(paths[:8], case.size))
    model = create(case.model)
    model.load_state_dict(ref.state_dict())
    model.eval()
    variants = {
        "reference": ref,
        "plain": model,
        "bn-folded": fused_copy(model),
        "optimised": optimize_for_inference(model),
        **{f"no-{step}": optimize_for_inference(model, **{step: False}) for step in STEPS},
    }
    x = load_batch(paths[: case.batch], case.size)
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        expected = model(x)
        for name in names:  # warm-up, and a check that every variant computes the same thing
            out = variants[name](x)
            rel = ((out - expected).abs().max() / expected.abs().max()).item()
            assert rel < 1e-2, (name, rel)
            variants[name](x)
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                start = time.perf_counter()
                variants[name](x)
                times[name].append((time.perf_counter() - start) * 1000.0)
    ref_ms = statistics.median(times["reference"])
    print(f"{case.key}, {torch.get_num_threads()} threads, {args.repeats} rotating repeats, forward only")
    print(f"{'variant':<18} {'median ms':>10} {'min ms':>8} {'ratio':>7}")
    results = []
    for name in names:
        med = statistics.median(times[name])
        print(f"{name:<18} {med:>10.1f} {min(times[name]):>8.1f} {med / ref_ms:>7.3f}")
        results.append({"variant": name, "median_ms": med, "min_ms": min(times[name]), "ratio": med / ref_ms})
    print(f"(ratio = variant / reference; load average {os.getloadavg()[0]:.2f})")
    if args.json:
        best = min(r["ratio"] for r in results if r["variant"] != "reference")
        report = {"case": case.key, "threads": torch.get_num_threads(), "ratio": best, "ratio_is": "the fastest variant / reference",
                  "provenance": machine(), "results": results}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
