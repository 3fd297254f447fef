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
# every step in one Python process (benchmarks/suite.py): torch is imported once
exec "$PY" -m benchmarks.suite --device "$DEVICE" --amp "$AMP" --out "$OUT" $([ "${SMOKE:-0}" = 1 ] && echo --smoke)
