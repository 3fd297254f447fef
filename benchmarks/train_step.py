"""Training-step throughput, ours vs torchvision's RetinaNet at the same architecture, same process.

    python -m benchmarks.train_step --setup default --reps 5
    python -m benchmarks.train_step --setup r18-256-b4 --amp bf16 --channels-last
    python -m benchmarks.train_step --setup default --amp bf16 --channels-last --compile

Each contender runs forward + loss + backward + optimiser step (the config's algorithm: ours fused,
as the trainer builds it; torchvision's with torch's default implementation) on the same random
batch (20 boxes per image), alternated after a warm-up; the median step time is reported as
images/s. Prints JSON.
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks.setups import SETUPS, build_ours, build_torchvision, median_times, random_batch, setup_config
from detector.core.device import machine
from detector.engine.schedule import build_optimizer
from detector.losses.criterion import build_criterion


def autocast(amp: str, device: torch.device):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def ours_step(cfg, num_classes: int, batch, device, amp: str, channels_last: bool, compile: bool = False):
    """Our step as the trainer runs it: its optimiser (``build_optimizer``: fused), forward + loss
    (with ``compile``, one torch.compile'd graph, as ``train.compile``)."""
    model = build_ours(cfg, num_classes).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    criterion = build_criterion(cfg.loss, cfg.matcher)
    opt = build_optimizer(model, cfg.solver)
    images = batch.images.to(device).contiguous(memory_format=fmt)
    targets = {k: v.to(device) for k, v in batch.targets.items()}

    def forward_loss(images, targets):
        with autocast(amp, device):
            preds = model(images)
        return criterion(preds, targets)[0]
    forward_loss = torch.compile(forward_loss) if compile else forward_loss

    def step() -> None:
        losses = forward_loss(images, targets)
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()
    return step


def default_optimizer(model: torch.nn.Module, solver) -> torch.optim.Optimizer:
    """The config's algorithm (SGD or AdamW) with torch's default implementation, for torchvision."""
    if solver.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=solver.lr, betas=tuple(solver.betas),
                                 weight_decay=solver.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=solver.lr, momentum=solver.momentum,
                           weight_decay=solver.weight_decay)


def torchvision_step(cfg, num_classes: int, batch, device, amp: str, channels_last: bool):
    model = build_torchvision(cfg, num_classes).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = default_optimizer(model, cfg.solver)
    images = [im.to(device) for im in batch.images]
    targets = [{k: v.to(device) for k, v in t.items()} for t in batch.tv_targets]

    def step() -> None:
        with autocast(amp, device):
            losses = model(images, targets)
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt.step()
    return step


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", choices=sorted(SETUPS), default="default")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--boxes", type=int, default=20, help="ground-truth boxes per image")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none", help="ours at these settings")
    p.add_argument("--channels-last", action="store_true", help="ours in channels_last")
    p.add_argument("--tv-same-settings", action="store_true",
                   help="also run torchvision with the same --amp/--channels-last")
    p.add_argument("--compile", action="store_true", help="ours with forward + loss torch.compile'd (train.compile)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = setup_config(args.setup)
    k = 3
    batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, args.boxes, k)
    contenders = {
        "ours": ours_step(cfg, k, batch, device, args.amp, args.channels_last, args.compile),
        "torchvision_fp32": torchvision_step(cfg, k, batch, device, "none", False),
    }
    if args.compile:  # what compiling buys, measured beside the eager step
        contenders["ours_eager"] = ours_step(cfg, k, batch, device, args.amp, args.channels_last)
    if args.tv_same_settings:
        contenders["torchvision_same"] = torchvision_step(cfg, k, batch, device, args.amp, args.channels_last)
    secs = median_times(contenders, args.reps)
    ips = {name: cfg.train.batch_size / s for name, s in secs.items()}
    result = {
        "benchmark": "train_step", "setup": args.setup, "device": str(device), "machine": machine(),
        "backbone": cfg.model.backbone.name, "image_size": cfg.augment.image_size,
        "batch": cfg.train.batch_size, "ours_amp": args.amp, "ours_channels_last": args.channels_last,
        "ours_compile": args.compile,
        "optimizer": cfg.solver.optimizer,
        "images_per_s": {n: round(v, 2) for n, v in ips.items()},
        "ratio_vs_torchvision_fp32": round(ips["ours"] / ips["torchvision_fp32"], 3),
    }
    if args.compile:
        result["ratio_compiled_vs_eager"] = round(ips["ours"] / ips["ours_eager"], 3)
    if args.tv_same_settings:
        result["ratio_vs_torchvision_same"] = round(ips["ours"] / ips["torchvision_same"], 3)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
