#!/usr/bin/env bash
# The evidence in docs/recipes.md: the automatic recipe on raccoon and BCCD at a wall-clock budget,
# 3 seeds, beside torchvision's RetinaNet at the same budget, and the fall-back from unloadable
# ImageNet weights. Resumable: a cell whose record exists is skipped; an interrupted cell starts over
# (a time-budget run measured beside other work is not the same run). Run alone, from anywhere:
#   bash study/recipes/run.sh                      # 10-minute cells, seeds 0 1 2
#   BUDGETS="10m 30m" bash study/recipes/run.sh    # and the 30-minute table
# Records (metrics, config, console, wall time) go to study/recipes/records/<cell>/; checkpoints and
# TensorBoard files to runs/recipes/ (not committed). Then: python study/recipes/report.py
set -u
cd "$(dirname "$0")/../.."
OUT=study/recipes/records
RUNS=${RUNS:-runs/recipes}
BUDGETS=${BUDGETS:-10m}
SEEDS=${SEEDS:-0 1 2}
DATASETS=${DATASETS:-raccoon bccd}

cell() {  # cell NAME COMMAND...: run COMMAND once, keep its console, wall time and records
    local name=$1; shift
    if [ -f "$OUT/$name/metrics.json" ]; then echo "done already: $name"; return; fi
    mkdir -p "$OUT/$name" "$RUNS/$name"
    echo "$(date -u +%FT%TZ) $name: $*"
    local start end
    start=$(date +%s.%N)
    "$@" > "$OUT/$name/console.txt" 2> "$RUNS/$name/stderr.txt"
    local code=$?
    end=$(date +%s.%N)
    if [ $code -ne 0 ]; then echo "$name failed ($code): see $RUNS/$name/stderr.txt"; tail -3 "$RUNS/$name/stderr.txt"; return; fi
    python - "$OUT/$name" "$start" "$end" "$*" <<'PY'
import json, platform, sys
from pathlib import Path
from detector.core.device import machine
out, start, end, command = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
(out / "command.json").write_text(json.dumps({"command": command, "wall_seconds": round(end - start, 1),
                                              "machine": machine(), "python": platform.python_version()}, indent=1))
PY
    for f in config.yaml metrics.json; do
        if [ -f "$RUNS/$name/$f" ]; then cp "$RUNS/$name/$f" "$OUT/$name/"; fi
    done
}

for budget in $BUDGETS; do
    for seed in $SEEDS; do
        for data in $DATASETS; do
            cell "auto_${data}_${budget}_s${seed}" python train.py --config "study/recipes/data/$data.yaml" \
                "solver.time_budget=$budget" "train.seed=$seed" "name=auto_${data}_${budget}_s${seed}" \
                "train.output_dir=$RUNS/auto_${data}_${budget}_s${seed}"
            cell "torchvision_${data}_${budget}_s${seed}" python -m benchmarks.torchvision_baseline \
                --config "study/recipes/data/$data.yaml" --budget "$budget" --seed "$seed" \
                --output "$RUNS/torchvision_${data}_${budget}_s${seed}/metrics.json"
        done
        if [ "$seed" = 0 ] && [ "$budget" = 10m ]; then
            cell "fallback_raccoon_${budget}_s0" python train.py --config study/recipes/data/raccoon_imagenet.yaml \
                "solver.time_budget=$budget" train.seed=0 "train.output_dir=$RUNS/fallback_raccoon_${budget}_s0"
        fi
    done
done
