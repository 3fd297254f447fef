#!/usr/bin/env bash
# A training-quality tool against the automatic recipe without it, at equal training time and without
# the host's drift in it (docs/recipes.md "Equal-time pairs"). The arm without the tool is named
# no<TOOL> (tools.sh: for a tool the recipe has kept, the recipe with it switched off; the records
# named nocombined_* ran before the recipe kept mosaic, multi-scale and crop, as plain `auto`).
# run.sh's time-budget cells get an iteration count from whatever their host's speed gave that hour;
# here the time enters only once, as a step-cost ratio measured side by side:
#   1. cost: no<TOOL> and TOOL train COST_STEPS steps each, alternately (A B A B), alone, and each
#      run's training seconds per step is kept (records/<machine>/equal_time/cost_*.json);
#   2. pairs: per dataset and seed, no<TOOL> trains N iterations and the tool N x (no<TOOL>'s s/step /
#      the tool's) iterations, i.e. what the same minutes buy each; warm-up 5% as the time budget sets
#      it. An iteration count does not depend on the host, so these cells may run PARALLEL at once
#      (one thread each) and on any host of a kind, and still pair.
# Resumable: a finished record is skipped. From anywhere, after or without run.sh:
#   bash study/recipes/equal_time.sh                       # TOOL=combined N=640 SEEDS="0 1 2" PARALLEL=2
#   TOOL=atss bash study/recipes/equal_time.sh             # another tool of tools.sh's list
# N=640: what 10 minutes bought `auto` (before it kept the augmentation) on the faster AVX2 host
# (629-646 iterations, records/amd-epyc-avx2-b).
# Then: python study/recipes/report.py
set -uf
cd "$(dirname "$0")/../.."
MACHINE=${MACHINE:-$(python -c "from detector.core.device import machine_slug; print(machine_slug())")} || exit 2
OUT=study/recipes/records/$MACHINE/equal_time
RUNS=${RUNS:-runs/recipes}/$MACHINE/equal_time
TOOL=${TOOL:-combined}
N=${N:-640}
SEEDS=${SEEDS:-0 1 2}
DATASETS=${DATASETS:-raccoon bccd}
COST_STEPS=${COST_STEPS:-60}
PARALLEL=${PARALLEL:-2}
# shellcheck source=study/recipes/tools.sh
source study/recipes/tools.sh
overrides=$(tool_overrides "$TOOL") || exit 2
without=$(without_overrides "$TOOL") || exit 2

keep() {  # keep NAME: copy a finished run's small records from RUNS/NAME to OUT/NAME
    mkdir -p "$OUT/$1"
    cp "$RUNS/$1/metrics.json" "$RUNS/$1/config.yaml" "$OUT/$1/"
    python -c "import json, sys; from detector.core.device import machine; json.dump({'command': sys.argv[2], 'machine': machine()}, open(sys.argv[1], 'w'), indent=1)" \
        "$OUT/$1/command.json" "$2"
}

# 1. the step cost, alone and alternating
for data in $DATASETS; do
    for rep in 1 2; do
        for what in "no$TOOL" "$TOOL"; do
            name=cost_${what}_${data}_r$rep
            [ -f "$OUT/$name/metrics.json" ] && continue
            extra=$without; [ "$what" = "$TOOL" ] && extra=$overrides
            # shellcheck disable=SC2086  # the overrides are separate words
            set -- python train.py --config "study/recipes/data/$data.yaml" "solver.max_iters=$COST_STEPS" \
                train.checkpoint_period=100000 train.seed=0 $extra "train.output_dir=$RUNS/$name"
            echo "$(date -u +%FT%TZ) $name"
            "$@" > /dev/null 2>&1 || { echo "$name failed: rerun $*"; exit 1; }
            keep "$name" "$*"
        done
    done
done

# 2. the pairs: iteration counts from the measured ratio, then every missing cell, PARALLEL at a time
seconds_per_step() {  # seconds_per_step WHAT DATA: mean training seconds per step of the cost runs
    python -c "import json, sys; v = [json.load(open(f)) for f in sys.argv[1:]]; print(sum(m['train_seconds'] / m['step'] for m in v) / len(v))" \
        "$OUT"/cost_"$1"_"$2"_r{1,2}/metrics.json
}
commands=()
for data in $DATASETS; do
    base_s=$(seconds_per_step "no$TOOL" "$data"); tool_s=$(seconds_per_step "$TOOL" "$data")
    tool_n=$(python -c "print(round($N * $base_s / $tool_s))")
    echo "$data: no$TOOL $base_s s/step, $TOOL $tool_s s/step -> $N and $tool_n iterations"
    for seed in $SEEDS; do
        for what in "no$TOOL" "$TOOL"; do
            name=${what}_${data}_${N}it_s$seed
            [ -f "$OUT/$name/metrics.json" ] && continue
            n=$N extra=$without; [ "$what" = "$TOOL" ] && { n=$tool_n; extra=$overrides; }
            warmup=$(( (n + 19) / 20 < 50 ? (n + 19) / 20 : 50 ))  # budget.py: min(warmup_iters, 5%)
            commands+=("python train.py --config study/recipes/data/$data.yaml solver.max_iters=$n solver.warmup_iters=$warmup train.seed=$seed $extra train.output_dir=$RUNS/$name #$name")
        done
    done
done
run_cell() {  # run_cell 'COMMAND #NAME': train one pair cell with one thread per PARALLEL run
    set -f  # the overrides hold brackets, never file patterns
    local command=${1% #*} name=${1##* #}
    echo "$(date -u +%FT%TZ) $name"
    # shellcheck disable=SC2086  # the command's words
    if ! OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS $command > /dev/null 2> "$RUNS/$name.stderr"; then
        echo "$name failed: $RUNS/$name.stderr"; return 1
    fi
    keep "$name" "$command"
}
export -f run_cell keep
export OUT RUNS THREADS=$(( $(nproc) / PARALLEL > 0 ? $(nproc) / PARALLEL : 1 ))
mkdir -p "$RUNS"
[ ${#commands[@]} -eq 0 ] || printf '%s\0' "${commands[@]}" | xargs -0 -P "$PARALLEL" -I{} bash -c 'run_cell "$1"' _ {}
