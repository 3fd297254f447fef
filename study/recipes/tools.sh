# The training-quality tools the recipe studies measure (equal_time.sh; run.sh's older time-budget cells):
# each as the config overrides that turn it on, and the ones that give the automatic recipe without it
# (the arm it is compared with). The scratch recipe has kept mosaic, multi-scale and crop, so for those
# the comparison is the recipe with the tool switched off; EMA and ATSS are not in it, so theirs is the
# recipe as it is. Sourced, not run.
tool_overrides() {
    case $1 in
        ema) echo "train.ema_decay=0.998 train.ema_tau=200" ;;
        atss) echo "matcher.name=atss" ;;
        multiscale) echo "augment.scale_range=[0.75,1.25]" ;;
        crop) echo "augment.crop_prob=0.5" ;;
        mosaic) echo "augment.mosaic_prob=0.5" ;;
        combined) echo "augment.mosaic_prob=0.5 augment.scale_range=[0.75,1.25] augment.crop_prob=0.5" ;;
        *) echo "unknown tool: $1" >&2; return 1 ;;
    esac
}
without_overrides() {  # the automatic recipe without the tool (empty: the recipe does not use it)
    case $1 in
        ema | atss) echo "" ;;
        multiscale) echo "augment.scale_range=[1.0,1.0]" ;;
        crop) echo "augment.crop_prob=0" ;;
        mosaic) echo "augment.mosaic_prob=0" ;;
        combined) echo "augment.mosaic_prob=0 augment.scale_range=[1.0,1.0] augment.crop_prob=0" ;;
        *) echo "unknown tool: $1" >&2; return 1 ;;
    esac
}
