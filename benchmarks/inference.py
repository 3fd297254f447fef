"""Inference throughput including post-processing, ours vs torchvision's RetinaNet, same process.

    python -m benchmarks.inference --setup default --reps 5

Ours: model forward + PostProcessor (batched top-k, one batched_nms for the batch). torchvision:
``model.eval()(images)``, which includes its transform and per-image post-processing. The score
threshold is lowered to 0.0 for both, so post-processing sees the full top-k candidates an
untrained model produces (the worst case). Prints JSON.
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks.setups import SETUPS, build_ours, build_torchvision, median_times, random_batch, setup_config
from benchmarks.train_step import autocast
from detector.core.boxes import BoxCoder
from detector.core.device import machine
from detector.inference.postprocess import PostProcessor


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", choices=sorted(SETUPS), default="default")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--channels-last", action="store_true", help="ours in channels_last")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none", help="autocast, both contenders")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = setup_config(args.setup)
    k, inf = 3, cfg.inference
    batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, 1, k)

    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    ours = build_ours(cfg, k).to(device).to(memory_format=fmt).eval()
    post = PostProcessor(BoxCoder(cfg.loss.box_coder_weights), 0.0, inf.topk_per_level, inf.nms_thresh,
                         inf.max_detections)
    images = batch.images.to(device).contiguous(memory_format=fmt)
    sizes = torch.tensor([images.shape[-2:]] * len(images), device=device)
    tv = build_torchvision(cfg, k).to(device).eval()
    tv.score_thresh, tv.topk_candidates = 0.0, inf.topk_per_level
    tv.nms_thresh, tv.detections_per_img = inf.nms_thresh, inf.max_detections
    tv_images = list(batch.images.to(device))

    with torch.inference_mode(), autocast(args.amp, device):
        secs = median_times({"ours": lambda: post(ours(images), sizes), "torchvision": lambda: tv(tv_images)},
                            args.reps)
        num = {"ours": sum(len(d["boxes"]) for d in post(ours(images), sizes)),
               "torchvision": sum(len(d["boxes"]) for d in tv(tv_images))}
    ips = {n: cfg.train.batch_size / s for n, s in secs.items()}
    print(json.dumps({
        "benchmark": "inference", "setup": args.setup, "device": str(device), "machine": machine(), "amp": args.amp,
        "backbone": cfg.model.backbone.name, "image_size": cfg.augment.image_size, "batch": cfg.train.batch_size,
        "ours_channels_last": args.channels_last, "detections_in_batch": num,
        "images_per_s": {n: round(v, 2) for n, v in ips.items()},
        "ratio_vs_torchvision": round(ips["ours"] / ips["torchvision"], 3),
    }, indent=1))


if __name__ == "__main__":
    main()
