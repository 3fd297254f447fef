#!/usr/bin/env bash
# The GPU suite, one command: the CUDA tests, then training-step and inference throughput (ours vs
# torchvision at the same architecture and precision) and the loss's peak memory, as JSON files.
#     bash benchmarks/gpu.sh                       # on a CUDA machine; JSON into docs/perf/gpu/
#     DEVICE=cpu SMOKE=1 OUT=/tmp/x bash benchmarks/gpu.sh   # the same steps on the CPU, tiny (tests run this)
#     PYTHON=/path/to/venv/bin/python bash benchmarks/gpu.sh  # an interpreter other than the first on PATH
# Setups: the default config, and R50-FPN at 800 px with batch 8 and 16 (bf16 autocast on both sides).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}  # the suite's test passes the interpreter it runs under
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-docs/perf/gpu}
AMP=${AMP:-bf16}
REPS=5
SETUPS="default r50-800-b8 r50-800-b16"
if [ "${SMOKE:-0}" = 1 ]; then REPS=1; SETUPS="default"; fi
mkdir -p "$OUT"
"$PY" -m pytest -q -m cuda tests/engine/test_cuda.py
"$PY" -c "from detector.core.device import machine; import json; print(json.dumps(machine(), indent=1))" > "$OUT/machine.json"
for setup in $SETUPS; do
  "$PY" -m benchmarks.train_step --setup "$setup" --device "$DEVICE" --amp "$AMP" --channels-last \
    --tv-same-settings --reps "$REPS" > "$OUT/train_step_$setup.json"
  "$PY" -m benchmarks.inference --setup "$setup" --device "$DEVICE" --amp "$AMP" --channels-last \
    --reps "$REPS" > "$OUT/inference_$setup.json"
done
# torch.compile of forward + loss (train.compile), and the loader on 800 px JPEGs against the step
if [ "${SMOKE:-0}" = 1 ]; then BIG=default; JPEG=16; WORKERS=1; else BIG=r50-800-b16; JPEG=400; WORKERS=$(( $(nproc) - 2 )); fi
if [ "${SMOKE:-0}" != 1 ]; then  # compiling takes minutes on a CPU; tests/engine/test_fast_paths.py covers the path
  "$PY" -m benchmarks.train_step --setup "$BIG" --device "$DEVICE" --amp "$AMP" --channels-last --compile \
    --reps "$REPS" > "$OUT/train_step_${BIG}_compile.json"
fi
"$PY" -m benchmarks.data_pipeline --jpeg "$JPEG" --setup "$BIG" --device "$DEVICE" --batches 4 \
  train.num_workers="$WORKERS" > "$OUT/data_pipeline_jpeg.json"
if [ "${SMOKE:-0}" = 1 ]; then
  "$PY" -m benchmarks.loss_memory --images 2 --size 128 --classes 3 --reps 1 > "$OUT/loss_memory.json"
else
  "$PY" -m benchmarks.loss_memory > "$OUT/loss_memory.json"
fi
echo "wrote $(ls "$OUT" | wc -l) files to $OUT"
