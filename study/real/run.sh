#!/usr/bin/env bash
# The real-data study of docs/results.md ("Focal loss vs BCE on real data"): focal loss against BCE,
# alpha-balanced CE, OHEM, QFL and EFL, and focal loss with per-class inverse-frequency alpha, on BCCD's
# official splits (study/real/bccd.yaml: the scratch recipe, fp32), with little training and at two
# training lengths, seeds 0-2; focal and BCE also on raccoon (study/real/raccoon.yaml, one class).
# Every run is `focaldet study` (= python -m detector study) published run by run under study/real/<study>/;
# after each, the run's final weights are scored on the test split with the imbalance report
# (`focaldet eval --imbalance`: calibration, loss distribution), kept beside its records. Resumable, in a
# fresh clone too: a run published there is not trained again; a run cut short resumes from its last.pt.
#     bash study/real/run.sh               # all of it, in priority order (CPU hours; see docs/results.md)
#     PARALLEL=2 bash study/real/run.sh    # two runs at once, one thread each
#     EARLY=300 SHORT=1000 LONG=2000       # the training lengths (iterations, batch 8), the defaults
# Then: python study/real/report.py
set -uf  # -f: the overrides hold brackets, never file patterns
cd "$(dirname "$0")/../.."
SHORT=${SHORT:-1000}
LONG=${LONG:-2000}  # (3000 was the plan; at 2000 the focal and BCE seeds fit one 2-core session)
EARLY=${EARLY:-300}

study() {  # study DATA NAME SEEDS OVERRIDES...: train what is missing, publish, then score each run on test
    local data=$1 name=$2 seeds=$3; shift 3
    local test=('data.val_sets=[".:test"]')  # BCCD scores on val during the study; raccoon has only test
    [ "$data" = bccd ] || test=()
    python -m detector study --config "study/real/$data.yaml" --name "$name" --seeds "$seeds" \
        --parallel "${PARALLEL:-1}" --publish "study/real/$name" "$@" || exit 1
    set +f; local ckpts=(runs/"$name"/*/seed*/last.pt); set -f
    for ckpt in "${ckpts[@]}"; do
        [ -f "$ckpt" ] || continue
        local run=${ckpt%/last.pt} pub=study/real/${ckpt#runs/}
        pub=${pub%/last.pt}
        [ -f "$run/metrics.json" ] && [ ! -f "$pub/test_metrics.json" ] || continue
        python -m detector eval --checkpoint "$ckpt" --imbalance --output "$run/test" "${test[@]}" \
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
# in order of need: on BCCD focal and BCE with little training, then at the short length; every other
# loss at the short length; focal and BCE on raccoon; every other loss with little training; then all at
# the long one. Seeds 0-2 in one call, so PARALLEL runs pair across seeds.
it() { echo "solver.max_iters=$1"; }
others() {  # others ITERS: the other losses at one length
    study bccd "bccd_$1" 0,1,2 loss.cls=ohem,qfl,efl "$(it "$1")"
    study bccd "bccd_${1}_balanced" 0,1,2 loss.cls=balanced_ce loss.alpha=0.75 "$(it "$1")"  # the paper's best alpha for it
    study bccd "bccd_${1}_alpha" 0,1,2 loss.cls=focal loss.class_alpha=inverse_frequency "$(it "$1")"
}
study bccd "bccd_$EARLY" 0,1,2 loss.cls=focal,bce "$(it "$EARLY")"
study bccd "bccd_$SHORT" 0,1,2 loss.cls=focal,bce "$(it "$SHORT")"
others "$SHORT"
study raccoon "raccoon_$SHORT" 0,1,2 loss.cls=focal,bce "$(it "$SHORT")"
others "$EARLY"
study bccd "bccd_$LONG" 0,1,2 loss.cls=focal,bce "$(it "$LONG")"
others "$LONG"
# the study tables over every seed (nothing trains: every finished run is published by now)
for budget in "$EARLY" "$SHORT" "$LONG"; do
    study bccd "bccd_$budget" 0,1,2 loss.cls=focal,bce,ohem,qfl,efl "$(it "$budget")" --table-only
    study bccd "bccd_${budget}_balanced" 0,1,2 loss.cls=balanced_ce loss.alpha=0.75 "$(it "$budget")" --table-only
    study bccd "bccd_${budget}_alpha" 0,1,2 loss.cls=focal loss.class_alpha=inverse_frequency "$(it "$budget")" --table-only
done
study raccoon "raccoon_$SHORT" 0,1,2 loss.cls=focal,bce "$(it "$SHORT")" --table-only
