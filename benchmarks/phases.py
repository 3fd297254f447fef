"""Where our training step spends its time, phase by phase, and how much compute it achieves.

    python -m benchmarks.phases --setup default
    python -m benchmarks.phases --setup r18-256-b4 --image-size 768 --boxes 25   # ~110k anchors per image

Phases: backbone+FPN forward, heads forward, the criterion (anchor matching + target encoding +
both losses; matching is also timed alone), backward, optimizer, post-processing (inference on the
same batch). Medians over --reps steps after a
warm-up. FLOPs of forward+backward are counted with torch.utils.flop_counter and divided by the
step time (achieved GFLOP/s). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.setups import SETUPS, build_ours, random_batch, setup_config
from detector.core.boxes import BoxCoder
from detector.inference.postprocess import build_postprocessor
from detector.losses.criterion import build_criterion


class Clock:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: dict[str, list[float]] = {}
        self._t = 0.0

    def start(self) -> None:
        self._sync()
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        self._sync()
        now = time.perf_counter()
        self.times.setdefault(name, []).append(now - self._t)
        self._t = now

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", choices=sorted(SETUPS), default="default")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--boxes", type=int, default=20)
    p.add_argument("--image-size", type=int, default=0, help="override the setup's image size (anchor count)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = setup_config(args.setup)
    if args.image_size:
        cfg.augment.image_size = args.image_size
    k = 3
    model = build_ours(cfg, k).to(device).to(memory_format=torch.channels_last).train()
    criterion = build_criterion(cfg.loss, cfg.matcher)
    post = build_postprocessor(cfg.inference, BoxCoder(cfg.loss.box_coder_weights))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, args.boxes, k)
    images = batch.images.to(device).contiguous(memory_format=torch.channels_last)
    targets = {key: v.to(device) for key, v in batch.targets.items()}
    sizes = torch.tensor([images.shape[-2:]] * len(images), device=device)
    clock = Clock(device)

    def step(timed: bool) -> None:
        clock.start()
        feats = model.features(images)
        clock.lap("backbone_fpn")
        preds = model.heads(images, feats)
        clock.lap("heads")
        with torch.no_grad():
            criterion.matcher(preds["anchors"], targets["boxes"], targets["valid"], targets["crowd"])
        clock.lap("matching_alone")
        losses, _ = criterion(preds, targets)  # matching + target encoding + both losses
        clock.lap("criterion")
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        clock.lap("backward")
        opt.step()
        clock.lap("optimizer")
        with torch.no_grad():
            post({k: v.detach() if torch.is_tensor(v) else v for k, v in preds.items()}, sizes)
        clock.lap("postprocess")

    for _ in range(2):
        step(False)
    clock.times.clear()
    for _ in range(args.reps):
        step(True)
    med = {name: statistics.median(v) for name, v in clock.times.items()}
    train_phases = ["backbone_fpn", "heads", "criterion", "backward", "optimizer"]
    step_s = sum(med[n] for n in train_phases)

    with FlopCounterMode(display=False) as counter:
        preds = model(images)
        losses, _ = criterion(preds, targets)
        sum(losses.values()).backward()
    flops = counter.get_total_flops()
    num_anchors = preds["anchors"].shape[0]
    print(json.dumps({
        "benchmark": "phases", "setup": args.setup, "device": str(device), "threads": torch.get_num_threads(),
        "image_size": cfg.augment.image_size, "batch": cfg.train.batch_size, "boxes_per_image": args.boxes,
        "anchors_per_image": num_anchors,
        "ms": {n: round(med[n] * 1000, 1) for n in train_phases + ["matching_alone", "postprocess"]},
        "share_of_step": {n: round(med[n] / step_s, 3) for n in train_phases},
        "matching_plus_loss_share": round(med["criterion"] / step_s, 3),
        "step_ms": round(step_s * 1000, 1),
        "train_gflop_per_step": round(flops / 1e9, 2),
        "achieved_gflop_per_s": round(flops / 1e9 / step_s, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
