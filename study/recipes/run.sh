#!/usr/bin/env bash
# The evidence in docs/recipes.md: the automatic recipe on raccoon and BCCD at a wall-clock budget,
# 3 seeds, beside torchvision's RetinaNet at the same budget, and the fall-back from unloadable
# ImageNet weights. Resumable: a cell whose record exists is skipped; an interrupted cell starts over
# (a time-budget run measured beside other work is not the same run). Run alone, from anywhere:
#   bash study/recipes/run.sh                      # 10-minute cells, seeds 0 1 2
#   BUDGETS="10m 30m" bash study/recipes/run.sh    # and the 30-minute table
#   FALLBACK=0 bash study/recipes/run.sh           # without the fall-back cell (unreachable ImageNet weights)
# The training-quality tools are measured by equal_time.sh (each against the recipe without it, at equal
# training time). The tool cells at a time budget in records/ (ema_*, atss_*, mosaic_*, ...) came from
# an earlier version of this script, each beside the `auto` cells of its session, when `auto` had none of
# the tools; since the recipe kept mosaic, multi-scale and crop, a new `auto` cell would not pair with them.
# Records (metrics, config, console, wall time) go to study/recipes/records/<machine>/<cell>/, one folder
# per kind of CPU (a budget buys another number of steps on another CPU, so cells are compared within
# one machine only); checkpoints and TensorBoard files to runs/recipes/ (not committed). Two hosts of
# one kind differ in speed too, and one host drifts within a session (the same auto cells ran at
# 1.4-1.5 s/step on one "AMD EPYC, AVX2" host and 0.8-1.2 on another), so cells are compared within one
# session's folder; MACHINE names another (MACHINE=amd-epyc-avx2-b bash study/recipes/run.sh).
# Then: python study/recipes/report.py
set -uf  # -f: the overrides below hold brackets, never file patterns
cd "$(dirname "$0")/../.."
MACHINE=${MACHINE:-$(python -c "from detector.core.device import machine_slug; print(machine_slug())")} || exit 2
OUT=study/recipes/records/$MACHINE
RUNS=${RUNS:-runs/recipes}/$MACHINE
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

auto() { cell "auto_$1_$2_s$3" python train.py --config "study/recipes/data/$1.yaml" "solver.time_budget=$2" \
            "train.seed=$3" "name=auto_$1_$2_s$3" "train.output_dir=$RUNS/auto_$1_$2_s$3"; }
torchvision() { cell "torchvision_$1_$2_s$3" python -m benchmarks.torchvision_baseline --config "study/recipes/data/$1.yaml" \
                   --budget "$2" --seed "$3" --output "$RUNS/torchvision_$1_$2_s$3/metrics.json"; }

# in order of need: every seed of the automatic recipe, the first seed of the baseline and the
# fall-back, then the baseline's other seeds
for budget in $BUDGETS; do
    for seed in $SEEDS; do
        for data in $DATASETS; do auto "$data" "$budget" "$seed"; done
        if [ "$seed" = "${SEEDS%% *}" ]; then
            for data in $DATASETS; do torchvision "$data" "$budget" "$seed"; done
            [ "${FALLBACK:-1}" = 0 ] || cell "fallback_raccoon_${budget}_s$seed" python train.py --config study/recipes/data/raccoon_imagenet.yaml \
                "solver.time_budget=$budget" "train.seed=$seed" "train.output_dir=$RUNS/fallback_raccoon_${budget}_s$seed"
        fi
    done
    for seed in $SEEDS; do
        for data in $DATASETS; do torchvision "$data" "$budget" "$seed"; done
    done
done
