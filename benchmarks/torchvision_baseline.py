"""torchvision's RetinaNet trained from scratch on a dataset for a wall-clock budget: the baseline
docs/recipes.md compares the recipes with. Not a test; prints and writes JSON.

    python -m benchmarks.torchvision_baseline --config DATA.yaml --budget 10m --seed 0 --output tv.json

The model is what a torchvision user builds: ``torchvision.models.detection.RetinaNet`` on a
ResNet-18 FPN (``resnet_fpn_backbone``-style: C3..C5, P6/P7 from P5, 256 channels, BatchNorm trained,
as there are no pretrained weights), torchvision's own head, anchors, loss, matcher and transform.
Its settings for a CPU budget: inputs at most ``--image-size`` px (its ``min_size``/``max_size``;
the scratch recipe's 192 by default), batch 8, horizontal flips, bf16 autocast where the CPU has
native bf16, AdamW 1e-3 with weight decay 0.05 and gradient clipping at 10 (the optimiser that
trained from scratch best in our CPU runs; SGD with ``--optimizer sgd --lr 0.01``), linear warm-up
and cosine decay over an iteration count fixed by the same budget planner as ``solver.time_budget``
(``detector.engine.budget``). The data are read and split by this project's loaders (the same
images, boxes and validation split as ``focaldet train``) and scored by the same COCO evaluation.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from pathlib import Path

import torch
import torchvision
from torch import Tensor
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detector.core.config import load_config
from detector.core.device import machine, resolve_amp
from detector.core.duration import parse_duration
from detector.data.build import build_dataset, prepare_data
from detector.data.coco import CocoDetection
from detector.data.images import load_rgb
from detector.engine import budget
from detector.evaluation.coco_eval import coco_evaluate


def build(num_classes: int, image_size: int) -> RetinaNet:
    body = torchvision.models.resnet18(weights=None)
    backbone = _resnet_fpn_extractor(body, trainable_layers=5, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(256, 256))
    return RetinaNet(backbone, num_classes, min_size=image_size, max_size=image_size)


class Flipped(torch.utils.data.Dataset):
    """The training images for a loader worker, each flipped with probability 1/2."""

    def __init__(self, dataset: CocoDetection) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        return sample(self.dataset, index, random.random() < 0.5)


def as_lists(batch: list) -> tuple[list, list]:
    images, targets = zip(*batch)
    return list(images), list(targets)


def sample(dataset: CocoDetection, index: int, flip: bool) -> tuple[Tensor, dict[str, Tensor]]:
    """An image in [0, 1] at its own size and its non-crowd boxes (labels 0..K-1), optionally flipped."""
    image_id = dataset.image_ids[index]
    image = torch.from_numpy(load_rgb(dataset.image_path(image_id))).permute(2, 0, 1).float() / 255
    boxes, labels, crowd = dataset.annotations(image_id)
    boxes = torch.as_tensor(boxes[~crowd], dtype=torch.float32).reshape(-1, 4)
    labels = torch.as_tensor(labels[~crowd], dtype=torch.int64)  # already 0..K-1
    if flip:
        image = image.flip(-1)
        boxes = torch.stack([image.shape[-1] - boxes[:, 2], boxes[:, 1], image.shape[-1] - boxes[:, 0], boxes[:, 3]], 1)
    return image, {"boxes": boxes, "labels": labels}


@torch.no_grad()
def evaluate(model: RetinaNet, dataset: CocoDetection, amp: torch.dtype | None, batch: int = 8) -> dict[str, float]:
    model.eval()
    results = []
    for start in range(0, len(dataset), batch):
        ids = dataset.image_ids[start:start + batch]
        images = [sample(dataset, dataset.image_ids.index(i), False)[0] for i in ids]
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            outputs = model(images)
        for image_id, out in zip(ids, outputs):
            for box, score, label in zip(out["boxes"].float().tolist(), out["scores"].float().tolist(),
                                         out["labels"].tolist()):
                results.append({"image_id": image_id, "category_id": dataset.cat_ids[label], "score": score,
                                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    stats, per_class, _ = coco_evaluate(dataset.coco, results)
    return {**stats, "per_class_AP": per_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a config naming the data (its data section is used)")
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--output", help="JSON file for the result")
    args = parser.parse_args()
    started = budget.process_started()  # the whole command fits the budget, as with focaldet train
    seconds = parse_duration(args.budget)  # the budget
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    cfg = load_config(args.config, ["recipe=none"])
    prepared, _ = prepare_data(cfg)
    train, val = (build_dataset(cfg, s, train_transforms=False, prepared=prepared[s]) for s in ("train", "val"))
    model = build(len(train.cat_ids), args.image_size)
    amp_name, _ = resolve_amp("auto", torch.device("cpu"))
    amp = torch.bfloat16 if amp_name == "bf16" else None
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": 0.05 if args.optimizer == "adamw" else 1e-4},
              {"params": rest, "weight_decay": 0.0}]
    optimizer = (torch.optim.AdamW(groups, lr=args.lr) if args.optimizer == "adamw"
                 else torch.optim.SGD(groups, lr=args.lr, momentum=0.9))
    configured = load_config(None, ["recipe=scratch"]).solver
    solver = copy.deepcopy(configured)
    solver.max_iters = budget.PROVISIONAL_ITERS

    def lr_at(it: int) -> float:
        warm = min(1.0, (it + 1) / max(solver.warmup_iters, 1))
        return args.lr * warm * 0.5 * (1 + math.cos(math.pi * min(it, solver.max_iters) / solver.max_iters))

    calibration: budget.Calibration | None = budget.Calibration(seconds, 0, configured)
    generator = torch.Generator().manual_seed(args.seed)
    sampler = torch.utils.data.RandomSampler(train, num_samples=10**8, generator=generator)
    loader = torch.utils.data.DataLoader(Flipped(train), args.batch, sampler=sampler, num_workers=1, drop_last=True,
                                         collate_fn=as_lists, persistent_workers=True,
                                         worker_init_fn=lambda worker: random.seed(args.seed * 100 + worker))
    step, eval_s = 0, 0.0
    model.train()
    for images, targets in loader:
        if step >= solver.max_iters:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        step += 1
        if calibration is not None:  # the same planning as solver.time_budget (trainer._calibrate)
            now = time.perf_counter()
            if calibration.timing_starts(step):
                calibration.begin(step, now)
            elif (calibration.first is None and calibration.done(step, now)) or step == calibration.refine_step:
                first, since = calibration.first, calibration.start_step
                step_s = calibration.step_seconds(step, now)
                if first is None:
                    forward = budget.inference_seconds(model, images, torch.device("cpu"), amp)
                    eval_s = budget.evaluation_seconds(forward / len(images), len(val))
                elapsed = time.perf_counter() - started
                fixed = budget.plan(configured, seconds, elapsed, step, step_s, eval_s, 0.0, 0, 10**9)
                budget.apply(solver, fixed)
                print(fixed.describe(seconds, elapsed, step, since if first else 0), flush=True)
                calibration.planned(fixed, step, time.perf_counter(), elapsed)
                if calibration.refine_step is None:
                    calibration = None
        if step % 50 == 0:
            print(f"step {step}/{solver.max_iters} loss {loss.item():.4f} lr {lr_at(step):.2e}", flush=True)
    train_seconds = time.perf_counter() - started
    stats = evaluate(model, val, amp)
    record = {"model": "torchvision RetinaNet ResNet-18 FPN (from scratch)", "config": args.config,
              "budget": args.budget, "seed": args.seed, "image_size": args.image_size, "batch": args.batch,
              "optimizer": args.optimizer, "lr": args.lr, "iterations": step, "train_seconds": round(train_seconds, 1),
              "run_seconds": round(time.perf_counter() - started, 1), **stats, "machine": machine()}
    print(json.dumps({k: v for k, v in record.items() if k != "machine"}, indent=1))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
