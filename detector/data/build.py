"""Datasets and loaders from config, and the batch format the engine consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from detector.config import Config, DataConfig
from detector.data.coco import CocoDetection, coco_from_dict
from detector.data.synthetic import ensure_synthetic
from detector.data.transforms import Letterbox
from detector.data.voc import discover_classes, voc_to_coco


def split_paths(cfg: DataConfig, split: str) -> tuple[Path, Path]:
    """(image folder, annotation file) of ``split`` ("train" or "val")."""
    images = getattr(cfg, f"{split}_images") or str(Path(cfg.root) / split)
    annotations = getattr(cfg, f"{split}_annotations") or str(Path(cfg.root) / "annotations" / f"{split}.json")
    return Path(images), Path(annotations)


def voc_class_names(cfg: DataConfig) -> list[str]:
    """``data.class_names``, or the classes found in the VOC train sets (stored back into ``cfg``
    so the run's saved config and checkpoint name them)."""
    if not cfg.class_names:
        cfg.class_names = discover_classes(Path(cfg.root), cfg.train_sets or cfg.val_sets)
        print(f"VOC classes discovered in {cfg.train_sets or cfg.val_sets}: {cfg.class_names}")
        if not cfg.class_names:
            raise ValueError(f"no <object> found in VOC sets {cfg.train_sets or cfg.val_sets} under '{cfg.root}'")
    return cfg.class_names


def build_dataset(cfg: Config, split: str, train_transforms: bool | None = None) -> CocoDetection:
    """The ``split`` dataset; the synthetic benchmark is generated first if needed."""
    train = split == "train" if train_transforms is None else train_transforms
    transform = Letterbox(cfg.augment, train=train)
    filter_empty = cfg.data.filter_empty and split == "train"
    if cfg.data.dataset == "voc":
        sets = cfg.data.train_sets if split == "train" else cfg.data.val_sets
        if not sets:
            raise ValueError(f"data.{split}_sets is empty: name the VOC sets, e.g. ['VOC2007:trainval']")
        source = f"VOC {sets} under '{cfg.data.root}'"
        coco = coco_from_dict(voc_to_coco(cfg.data.root, sets, voc_class_names(cfg.data)), source)
        return CocoDetection(cfg.data.root, coco, transform, filter_empty, source=source)
    if cfg.data.dataset == "synthetic":
        ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    images, annotations = split_paths(cfg.data, split)
    return CocoDetection(images, annotations, transform, filter_empty)


def collate(batch: list[tuple[Tensor, dict[str, Any]]]) -> tuple[Tensor, dict[str, Tensor]]:
    """Stack images (zero-padded to the largest H, W) and pad targets to the most boxes per image.

    Returns images (N, 3, H, W) and targets: ``boxes`` (N, M, 4), ``labels`` (N, M), ``valid``
    (N, M) bool, ``crowd`` (N, M) bool, ``image_id`` (N,), ``orig_size`` (N, 2), ``scale`` (N,).
    """
    images = [b[0] for b in batch]
    h = max(im.shape[1] for im in images)
    w = max(im.shape[2] for im in images)
    out = images[0].new_zeros((len(images), 3, h, w))
    for i, im in enumerate(images):
        out[i, :, : im.shape[1], : im.shape[2]] = im
    targets = [b[1] for b in batch]
    m = max((len(t["labels"]) for t in targets), default=0)
    boxes = torch.zeros((len(batch), m, 4))
    labels = torch.zeros((len(batch), m), dtype=torch.long)
    valid = torch.zeros((len(batch), m), dtype=torch.bool)
    crowd = torch.zeros((len(batch), m), dtype=torch.bool)
    for i, t in enumerate(targets):
        k = len(t["labels"])
        boxes[i, :k] = t["boxes"]
        labels[i, :k] = t["labels"]
        valid[i, :k] = True
        crowd[i, :k] = t["crowd"]
    return out, {
        "boxes": boxes, "labels": labels, "valid": valid, "crowd": crowd,
        "image_id": torch.tensor([t["image_id"] for t in targets]),
        "orig_size": torch.tensor([t["orig_size"] for t in targets]),
        "scale": torch.tensor([t["scale"] for t in targets], dtype=torch.float32),
    }


def shard_order(order: list[int], batch_size: int, rank: int, world: int, drop_last: bool) -> list[int]:
    """This rank's part of ``order``.

    Training (``drop_last``): every global batch of ``batch_size`` is cut into ``world`` equal
    consecutive slices, so N processes see together exactly what one process sees. Evaluation:
    round robin, nothing dropped.
    """
    if world == 1:
        return order
    if not drop_last:
        return order[rank::world]
    local = batch_size // world
    full = len(order) - len(order) % batch_size
    return [order[i] for i in range(full) if (i % batch_size) // local == rank]


def build_loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool, seed: int = 0,
                 epoch: int = 0, drop_last: bool = False, skip_batches: int = 0,
                 rank: int = 0, world: int = 1) -> DataLoader:
    """One pass over ``dataset``; with ``shuffle`` the order depends only on (seed, epoch).

    ``skip_batches`` starts the pass that many (global) batches in, so a resumed run sees the same
    order. With ``world`` > 1 this is rank ``rank``'s shard (``shard_order``) and ``batch_size`` is
    the global batch: each process loads ``batch_size // world`` images per step in training.
    """
    if shuffle:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(dataset), generator=generator).tolist()
    else:
        order = list(range(len(dataset)))
    order = shard_order(order[skip_batches * batch_size:], batch_size, rank, world, drop_last)
    local = batch_size // world if drop_last else batch_size
    # a private generator for the workers' base seed, so loaders never consume the global RNG
    return DataLoader(dataset, batch_size=local, sampler=order, num_workers=num_workers,
                      collate_fn=collate, drop_last=drop_last, pin_memory=torch.cuda.is_available(),
                      generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
