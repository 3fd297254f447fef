"""Peak memory and time of the classification + box loss, forward and backward, at COCO size:
ours (the criterion) vs torchvision's ``RetinaNetHead.compute_loss``, on the same anchors and boxes.

    python -m benchmarks.loss_memory                      # 2 images, 800 x 800 (120 087 anchors), 80 classes
    python -m benchmarks.loss_memory --images 8 --size 128 --classes 3 --boxes 8   # the default config's batch

Each contender runs in a fresh process (a process's peak cannot be reset on CPU): the inputs (the
head outputs as leaf tensors, anchors, boxes) are built, resident memory recorded, then 1 +
``--reps`` forward+backward passes; the peak resident memory above that baseline (the gradient of
the logits included: any loss makes it) and the median time of the timed passes are reported.
Torchvision's matching runs before the baseline (its compute_loss takes the matches), ours inside
the criterion. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from detector.core.device import machine

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def inputs(size: int, classes: int, boxes: int, images: int = 2):
    from detector.core.config import AnchorConfig
    from detector.model.anchors import build_anchor_generator, feature_sizes
    g = torch.Generator().manual_seed(0)
    sizes = feature_sizes(size, size)
    anchors = build_anchor_generator(AnchorConfig())(sizes, torch.device("cpu"))
    a = len(anchors)
    xy = torch.rand(images, boxes, 2, generator=g) * size * 0.8
    wh = 16 + torch.rand(images, boxes, 2, generator=g) * size * 0.3
    gt = torch.cat((xy, (xy + wh).clamp(max=size)), dim=2)
    labels = torch.randint(0, classes, (images, boxes), generator=g)
    logits = (torch.randn(images, a, classes, generator=g) - 4.0)
    deltas = torch.randn(images, a, 4, generator=g) * 0.1
    return anchors, sizes, gt, labels, logits, deltas


def ours(args) -> callable:
    from detector.core.config import LossConfig, MatcherConfig
    from detector.losses.criterion import build_criterion
    anchors, _, gt, labels, logits, deltas = inputs(args.size, args.classes, args.boxes, args.images)
    crit = build_criterion(LossConfig(), MatcherConfig())
    targets = {"boxes": gt, "labels": labels, "valid": torch.ones_like(labels, dtype=torch.bool),
               "crowd": torch.zeros_like(labels, dtype=torch.bool)}

    lg, dl = logits.requires_grad_(), deltas.requires_grad_()

    def step() -> None:
        lg.grad = dl.grad = None
        losses, _ = crit({"cls_logits": lg, "box_deltas": dl, "anchors": anchors}, targets)
        sum(losses.values()).backward()
    return step


def torchvision(args) -> callable:
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.retinanet import RetinaNetHead
    anchors, _, gt, labels, logits, deltas = inputs(args.size, args.classes, args.boxes, args.images)
    head = RetinaNetHead(16, 9, args.classes)
    matcher = det_utils.Matcher(0.5, 0.4, allow_low_quality_matches=True)
    from torchvision.ops import box_iou
    targets = [{"boxes": b, "labels": lb} for b, lb in zip(gt, labels)]
    matched = [matcher(box_iou(t["boxes"], anchors)) for t in targets]

    outputs = {"cls_logits": logits.requires_grad_(), "bbox_regression": deltas.requires_grad_()}

    def step() -> None:
        outputs["cls_logits"].grad = outputs["bbox_regression"].grad = None
        losses = head.compute_loss(targets, outputs, [anchors] * len(targets), matched)
        sum(losses.values()).backward()
    return step


def worker(args) -> dict[str, float]:
    step = (ours if args.worker == "ours" else torchvision)(args)
    base = rss_mib()
    step()  # warm-up (counted in the peak)
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mib_above_inputs": round(peak - base, 1), "median_s": round(statistics.median(times), 4)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--size", type=int, default=800)
    p.add_argument("--classes", type=int, default=80)
    p.add_argument("--boxes", type=int, default=20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--worker", choices=["ours", "torchvision"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    out = {}
    for who in ("ours", "torchvision"):
        cmd = [sys.executable, "-m", "benchmarks.loss_memory", "--worker", who, "--size", str(args.size),
               "--classes", str(args.classes), "--boxes", str(args.boxes), "--reps", str(args.reps),
               "--images", str(args.images)]
        out[who] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    anchors = len(inputs(args.size, 1, 1)[0])
    print(json.dumps({"benchmark": "loss_memory", "images": args.images, "anchors": anchors, "classes": args.classes,
                      "machine": machine(), **out,
                      "memory_ours_over_torchvision": round(
                          out["ours"]["peak_mib_above_inputs"] / max(out["torchvision"]["peak_mib_above_inputs"], 1e-9),
                          3),
                      "time_ours_over_torchvision": round(out["ours"]["median_s"] / out["torchvision"]["median_s"], 3)},
                     indent=1))


if __name__ == "__main__":
    main()
