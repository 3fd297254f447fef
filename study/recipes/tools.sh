# The training-quality tools the recipe studies compare with `auto` (run.sh, equal_time.sh): each as
# the config overrides that turn it on. Sourced, not run.
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
