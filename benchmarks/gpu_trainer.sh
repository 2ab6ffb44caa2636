#!/usr/bin/env bash
# The trainer on a CUDA machine: yolox-s, batch 64, AMP "auto" (fp16 + GradScaler), synthetic
# 640x640 data; 2 epochs, then --resume --epochs 3 (exact resume on CUDA), reporting images/s,
# data/compute time and peak memory from the run's own metrics.csv / summary.json.
# Usage (repo root, yoloxkit importable via PYTHONPATH=src): OUT=dir bash benchmarks/gpu_trainer.sh
set -euo pipefail
OUT=${OUT:-/tmp/gpu_trainer}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
rm -rf /tmp/gpu_syn "$OUT/run"
python3 -m yoloxkit data synth --out /tmp/gpu_syn --images 1100 --classes 4 --size 640 > /dev/null
COMMON=(--set log.progress=false --set log.interval=4 --set val.interval=1 --set augment.no_aug_epochs=1
        --set optim.warmup_epochs=1 --set log.plots=false)
time python3 -m yoloxkit train --data /tmp/gpu_syn --model yolox-s --epochs 2 --batch 64 --device cuda \
    --workers 14 --out "$OUT/run" "${COMMON[@]}"
time python3 -m yoloxkit train --resume --out "$OUT/run" --epochs 3
python3 - "$OUT/run" <<'PY'
import csv, json, sys
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
steps = [r for r in rows if r["scope"] == "step"]
late = steps[len(steps) // 2:]
mean = lambda k: sum(float(r[k]) for r in late if r[k]) / max(len(late), 1)
s = json.load(open(f"{run}/summary.json"))
print(json.dumps({"amp": s["amp"], "device": s["device"], "epochs_run": s["epochs_run"],
                  "images_per_s_steps": mean("images_per_s"), "data_time_s": mean("data_time"),
                  "compute_time_s": mean("compute_time"), "peak_memory_mb": max(float(r["memory_mb"]) for r in steps),
                  "final": s["final"]}, indent=1))
PY
