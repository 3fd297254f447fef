"""Data pipeline throughput (decode + augment + collate) against the model's training rate.

    python -m benchmarks.data_pipeline                       # configs/shapes_focal.yaml
    python -m benchmarks.data_pipeline --config configs/shapes_focal.yaml --batches 60 train.num_workers=2

Iterates the training loader exactly as the trainer builds it (configured workers and batch size)
with no model attached, and compares with the model's training throughput measured the same way
as benchmarks/train_step.py. Goal: the loader is never the bottleneck (>= 3x the model's rate).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


from benchmarks.setups import median_times, random_batch
from benchmarks.train_step import ours_step
from detector.core.config import load_config
from detector.core.device import resolve_amp
from detector.data.build import build_dataset, build_loader


def loader_rate(cfg, batches: int) -> float:
    """Training images per second the configured loader delivers (after its first batch)."""
    dataset = build_dataset(cfg, "train")
    loader = build_loader(dataset, cfg.train.batch_size, cfg.train.num_workers, shuffle=True, drop_last=True)
    it = iter(loader)
    next(it)  # worker start-up is paid once per epoch, not per batch
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(it)
        n += len(images)
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/shapes_focal.yaml")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    cfg = load_config(args.config, args.overrides)
    data_ips = loader_rate(cfg, min(args.batches, len(build_dataset(cfg, "train")) // cfg.train.batch_size - 1))
    k = len(cfg.data.synthetic.classes)
    batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, 5, k)
    amp = resolve_amp(cfg.train.amp, torch.device("cpu"))[0]  # the precision training would use here
    step = ours_step(cfg, k, batch, torch.device("cpu"), amp, cfg.train.channels_last)
    model_ips = cfg.train.batch_size / median_times({"ours": step}, reps=5)["ours"]
    print(json.dumps({
        "benchmark": "data_pipeline", "config": args.config, "num_workers": cfg.train.num_workers,
        "batch": cfg.train.batch_size, "image_size": cfg.augment.image_size,
        "loader_images_per_s": round(data_ips, 1), "model_train_images_per_s": round(model_ips, 1),
        "loader_over_model": round(data_ips / model_ips, 2),
    }, indent=1))


if __name__ == "__main__":
    main()
