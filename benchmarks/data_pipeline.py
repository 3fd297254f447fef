"""Data pipeline throughput (decode + augment + collate) against the model's training rate.

    python -m benchmarks.data_pipeline                       # configs/shapes_focal.yaml (PNGs)
    python -m benchmarks.data_pipeline --config configs/shapes_focal.yaml --batches 60 train.num_workers=2
    python -m benchmarks.data_pipeline --jpeg 200 --setup r50-800-b16 train.num_workers=2   # 800 px JPEGs

Iterates the training loader exactly as the trainer builds it (configured workers, batch size,
one loader for the run) with no model attached, and compares with the model's training
throughput measured the same way as benchmarks/train_step.py. ``--jpeg N`` trains on N
photo-like 800 x 600 JPEGs (written once to a temporary folder; ~COCO's file sizes) at the setup's
input size: the case a GPU has to be fed. Goal: the loader is never the bottleneck (>= 3x the
model's rate); ``workers_for_150_per_s`` says how many loader processes a GPU at 150 images/s needs.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.setups import median_times, random_batch, setup_config
from benchmarks.train_step import ours_step
from detector.core.config import Config, apply_overrides, load_config
from detector.core.device import machine, resolve_amp
from detector.data.build import build_dataset, build_train_loader


def loader_rate(cfg: Config, batches: int) -> float:
    """Training images per second the configured loader delivers (after its first batch)."""
    dataset = build_dataset(cfg, "train")
    dataset.augment_seed = cfg.train.seed
    it = iter(build_train_loader(dataset, cfg.train.batch_size, cfg.train.num_workers, cfg.train.seed,
                                 prefetch_factor=cfg.train.prefetch_factor))
    next(it)  # worker start-up is paid once per run
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(it)
        n += len(images)
    return n / (time.perf_counter() - start)


def jpeg_dataset(folder: Path, count: int, width: int = 800, height: int = 600) -> tuple[Path, Path]:
    """``count`` photo-like JPEGs (smooth colour fields plus grain, quality 90) with 1-6 boxes each,
    and their COCO JSON; reused when already there."""
    images, ann_file = folder / "images", folder / "train.json"
    if ann_file.is_file():
        return images, ann_file
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    entries, anns = [], []
    for i in range(count):
        small = rng.integers(0, 255, (height // 40, width // 40, 3), dtype=np.uint8)
        field = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), np.int16)
        pixels = np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"{i:05d}.jpg", quality=90)
        entries.append({"id": i + 1, "file_name": f"{i:05d}.jpg", "width": width, "height": height})
        for _ in range(int(rng.integers(1, 7))):
            w, h = rng.uniform(20, 300, 2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
    ann_file.write_text(json.dumps({"images": entries, "annotations": anns,
                                    "categories": [{"id": 1, "name": "object"}]}))
    return images, ann_file


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/shapes_focal.yaml")
    p.add_argument("--setup", default=None, help="a benchmarks.setups architecture (with --jpeg)")
    p.add_argument("--jpeg", type=int, default=0, help="train on this many 800 x 600 JPEGs")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--device", default="cpu", help="where the model's step is timed")
    p.add_argument("--loader-only", action="store_true", help="skip timing the model (R50 at 800 px on a CPU)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    cfg = setup_config(args.setup) if args.setup else load_config(args.config)
    overrides = list(args.overrides)
    if args.jpeg:
        images, ann_file = jpeg_dataset(Path(tempfile.gettempdir()) / f"retinanet_jpeg_{args.jpeg}", args.jpeg)
        overrides = ["data.dataset=coco", f"data.train_images={images}", f"data.train_annotations={ann_file}",
                     f"data.val_images={images}", f"data.val_annotations={ann_file}", *overrides]
    cfg = apply_overrides(cfg, overrides)
    train = build_dataset(cfg, "train")
    data_ips = loader_rate(cfg, min(args.batches, len(train) // cfg.train.batch_size - 1))
    model_ips = math.nan
    if not args.loader_only:
        k = len(train.cat_ids)
        batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, 5, k)
        device = torch.device(args.device)
        amp = resolve_amp(cfg.train.amp, device)[0]  # the precision training would use there
        step = ours_step(cfg, k, batch, device, amp, cfg.train.channels_last)
        model_ips = cfg.train.batch_size / median_times({"ours": step}, reps=3)["ours"]
    workers = max(cfg.train.num_workers, 1)
    print(json.dumps({
        "benchmark": "data_pipeline", "config": args.setup or args.config, "model_device": args.device,
        "data": f"{args.jpeg} JPEGs 800x600" if args.jpeg else "the config's", "num_workers": cfg.train.num_workers,
        "batch": cfg.train.batch_size, "image_size": cfg.augment.image_size,
        "loader_images_per_s": round(data_ips, 1),
        "model_train_images_per_s": None if math.isnan(model_ips) else round(model_ips, 2),
        "loader_over_model": None if math.isnan(model_ips) else round(data_ips / model_ips, 2),
        "workers_for_150_per_s": math.ceil(150 / (data_ips / workers)), "machine": machine(),
    }, indent=1))


if __name__ == "__main__":
    main()
