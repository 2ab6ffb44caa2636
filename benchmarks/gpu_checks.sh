#!/usr/bin/env bash
# The GPU checks of training, in one run (about 5-8 minutes on one H200):
#   1. versions and the GPU (nvidia-smi, torch, CUDA);
#   2. pytest tests/test_cuda.py tests/loss (CUDA against CPU; the loss against the reference);
#   3. benchmarks/train_step.py --device cuda --amp --cases s-640-64 (float16 AMP, both sides);
#   4. benchmarks/rotated_gpu_train.py: rotated-yolox-s, 3 epochs on split DOTA-like scenes
#      (images/s, memory);
#   5. benchmarks/train_step.py with --amp bf16 (bfloat16 autocast on our side, the reference in
#      float16).
# Results go to $OUT (default: benchmarks/results/gpu). Without CUDA every step is skipped
# cleanly (the tests skip, the benchmark is not started) and the script exits 0.
#
# Environment, all optional:
#   OUT             where the logs and JSON go
#   DATASETS        a folder holding coco128/ (images/train2017, labels/train2017) and
#                   dota_sample/; linked to
#                   ../shared/datasets when that does not exist (the tests and the benchmark
#                   read COCO128 from there)
#   WHEELS          a folder of wheels installed with --no-deps into /tmp/site first (the
#                   reference pixeltable-yolox, loguru, pycocotools where the machine lacks them)
#   PYTHON          the interpreter (default python3)
#   BENCH_REPEATS   timed steps per side (default 5)
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if [ -n "${WHEELS:-}" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${DATASETS:-}" ] && [ ! -e ../shared/datasets ]; then
    mkdir -p ../shared && ln -s "$(cd "$DATASETS" && pwd)" ../shared/datasets
fi

{
    echo "== $(date -u +%FT%TZ)"
    nvidia-smi || echo "nvidia-smi: not available"
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'cudnn', torch.backends.cudnn.version())"
} 2>&1 | tee "$OUT/versions.txt"

status=0
"$PYTHON" -m pytest tests/test_cuda.py tests/loss -x -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest.txt" || status=1

if "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    "$PYTHON" benchmarks/train_step.py --device cuda --amp --cases s-640-64 --repeats "${BENCH_REPEATS:-5}" \
        --warmup 2 --json "$OUT/train_step_gpu.json" 2>&1 | tee "$OUT/train_step_gpu.txt" || status=1
    "$PYTHON" benchmarks/rotated_gpu_train.py --device cuda --workers 12 \
        --json "$OUT/rotated_gpu_train.json" > "$OUT/rotated_gpu_train.txt" 2>&1 || status=1
    tail -n 40 "$OUT/rotated_gpu_train.txt"
    # bfloat16 autocast (no scaler) on our side, against the same float16 reference.
    "$PYTHON" benchmarks/train_step.py --device cuda --amp bf16 --cases s-640-64 --repeats "${BENCH_REPEATS:-5}" \
        --warmup 2 --json "$OUT/train_step_gpu_bf16.json" 2>&1 | tee "$OUT/train_step_gpu_bf16.txt" || status=1
else
    echo "no CUDA: GPU benchmark skipped" | tee "$OUT/train_step_gpu.txt"
fi
exit $status
