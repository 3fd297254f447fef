#!/usr/bin/env bash
# The real-data study of docs/results.md ("Focal loss vs BCE on real data"): focal loss against BCE,
# alpha-balanced CE, OHEM, QFL and EFL, and focal loss with per-class inverse-frequency alpha, on BCCD's
# official splits (study/real/bccd.yaml: the scratch recipe, fp32), at two training lengths, seeds 0-2.
# Every run is `focaldet study` (= python -m detector study) published run by run under study/real/<study>/;
# after each, the run's final weights are scored on the test split with the imbalance report
# (`focaldet eval --imbalance`: calibration, loss distribution), kept beside its records. Resumable, in a
# fresh clone too: a run published there is not trained again; a run cut short resumes from its last.pt.
#     bash study/real/run.sh               # all of it, in priority order (CPU hours; see docs/results.md)
#     PARALLEL=2 bash study/real/run.sh    # two runs at once, one thread each
#     SHORT=1000 LONG=3000                 # the two training lengths (iterations, batch 8), the defaults
# Then: python study/real/report.py
set -uf  # -f: the overrides hold brackets, never file patterns
cd "$(dirname "$0")/../.."
SHORT=${SHORT:-1000}
LONG=${LONG:-3000}

study() {  # study NAME SEEDS OVERRIDES...: train what is missing, publish, then score each run on test
    local name=$1 seeds=$2; shift 2
    python -m detector study --config study/real/bccd.yaml --name "$name" --seeds "$seeds" \
        --parallel "${PARALLEL:-1}" --publish "study/real/$name" "$@" || exit 1
    set +f; local ckpts=(runs/"$name"/*/seed*/last.pt); set -f
    for ckpt in "${ckpts[@]}"; do
        [ -f "$ckpt" ] || continue
        local run=${ckpt%/last.pt} pub=study/real/${ckpt#runs/}
        pub=${pub%/last.pt}
        [ -f "$run/metrics.json" ] && [ ! -f "$pub/test_metrics.json" ] || continue
        python -m detector eval --checkpoint "$ckpt" --imbalance --output "$run/test" 'data.val_sets=[".:test"]' \
            > "$run/test.log" 2>&1 || { echo "test scoring failed: $run/test.log"; tail -3 "$run/test.log"; exit 1; }
        cp "$run/test/eval_metrics.json" "$pub/test_metrics.json"
        cp "$run/test/imbalance/imbalance.json" "$pub/test_imbalance.json"
        if [ "${run##*/}" = seed0 ]; then  # the figures of one seed
            cp "$run/test/imbalance/reliability.png" "$run/test/imbalance/loss_distribution.png" "$pub/"
        fi
    done
}

# the imbalance that is there before any training: fg:bg anchors, class shares of boxes and of positives
[ -s study/real/anchors.txt ] || python -m detector anchors --config study/real/bccd.yaml > study/real/anchors.txt || exit 1
# in order of need: focal and BCE at both lengths seed by seed, then the other losses at both
it() { echo "solver.max_iters=$1"; }
for budget in "$SHORT" "$LONG"; do
    for seed in 0 1 2; do study "bccd_$budget" "$seed" loss.cls=focal,bce "$(it "$budget")"; done
done
for budget in "$SHORT" "$LONG"; do
    for seed in 0 1 2; do
        study "bccd_$budget" "$seed" loss.cls=ohem,qfl,efl "$(it "$budget")"
        study "bccd_${budget}_balanced" "$seed" loss.cls=balanced_ce loss.alpha=0.75 "$(it "$budget")"  # the paper's best alpha for it
        study "bccd_${budget}_alpha" "$seed" loss.cls=focal loss.class_alpha=inverse_frequency "$(it "$budget")"
    done
done
# the study tables over every seed (nothing trains: every finished run is published by now)
for budget in "$SHORT" "$LONG"; do
    study "bccd_$budget" 0,1,2 loss.cls=focal,bce,ohem,qfl,efl "$(it "$budget")" --table-only
    study "bccd_${budget}_balanced" 0,1,2 loss.cls=balanced_ce loss.alpha=0.75 "$(it "$budget")" --table-only
    study "bccd_${budget}_alpha" 0,1,2 loss.cls=focal loss.class_alpha=inverse_frequency "$(it "$budget")" --table-only
done
