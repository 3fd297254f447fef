"""Datasets and loaders from config, and the batch format the engine consumes.

``prepare_data`` is the one way in for every format: read the annotations into drafts, decode
every image once (``scan``), judge boxes and files (``draft.finish``), report, and stop before
step 1 on what cannot be trained on. ``build_dataset`` turns a prepared split into a dataset.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from detector.core.config import Config, DataConfig
from detector.core.normalization import IMAGENET_MEAN
from detector.core.signals import ignore_stop_signals
from detector.core.structures import Sample, Targets
from detector.data.coco import CocoDetection, coco_from_dict
from detector.data.draft import Draft, finish
from detector.data.formats import check_format, configured, data_format, read_draft
from detector.data.images import ImageInfo, set_pixel_limit
from detector.data.noise import corrupt, noise_active
from detector.data.problems import DataError, DataReport
from detector.data.scan import scan_images
from detector.data.split import load_or_make_split, split_draft
from detector.data.transforms import DetectionTransform

SPLITS = ("train", "val")


@dataclass
class PreparedSplit:
    """A split ready for ``CocoDetection``: checked COCO dict, the folder its file names are in."""

    coco: dict[str, Any]
    root: Path
    source: str


def require_training_images(prepared: dict[str, PreparedSplit], filter_empty: bool = False) -> None:
    """``DataError`` when the training split has no usable image (with ``filter_empty``: none with a
    box): what ``focaldet scan`` and training both stop on."""
    part = prepared.get("train")
    if part is None:
        return
    images = part.coco["images"]
    if filter_empty:
        annotated = {a["image_id"] for a in part.coco["annotations"]}
        images = [im for im in images if im["id"] in annotated]
    if not images:
        raise DataError(f"the training split of {part.source} has no usable images"
                        + (" with boxes (data.filter_empty=true)" if filter_empty else ""))


def _drafts(cfg: Config, splits: tuple[str, ...], run_dir: Path | None) -> dict[str, Draft]:
    data = cfg.data
    fmt = data_format(data)
    check_format(data)
    if fmt.prepare is not None:
        fmt.prepare(data)
    if data.val_fraction <= 0:
        return {s: read_draft(data, s) for s in splits}
    if not fmt.layout_names_val and configured(data, "val"):
        raise ValueError("data.val_fraction holds out a validation split, but one is also configured; "
                         "use one or the other")
    if not data.split_file and run_dir is not None:
        data.split_file = str(run_dir / "split.json")
    whole = read_draft(data, "train")
    held = load_or_make_split(whole, data.val_fraction, data.split_seed,
                              Path(data.split_file) if data.split_file else None)
    parts = dict(zip(SPLITS, split_draft(whole, held)))
    return {s: parts[s] for s in splits}


DUPLICATES_SHOWN = 5  # copies named in a duplicate group's line; data_report.json lists all


def _duplicates(drafts: dict[str, Draft], infos: dict[Path, ImageInfo]) -> None:
    """One problem per group of images with the same bytes, in each split the group touches: linear
    in the number of files however many copies there are (a dataset oversampled by copying files
    has groups of thousands). The line names a few copies, ``Problem.files`` all of them."""
    groups: dict[str, dict[tuple[str, Path], None]] = defaultdict(dict)
    for name, draft in drafts.items():
        for image in draft.images:
            path = draft.path(image)
            if infos[path].digest and infos[path].usable:
                groups[infos[path].digest][(name, path)] = None
    for members in groups.values():
        if len(members) < 2:
            continue
        listed = tuple(f"{name}:{path}" for name, path in members)
        shown = ", ".join(listed[:DUPLICATES_SHOWN])
        if len(listed) > DUPLICATES_SHOWN:
            shown += f", and {len(listed) - DUPLICATES_SHOWN} more (data_report.json lists them all)"
        splits = list(dict.fromkeys(name for name, _ in members))
        files = {path for _, path in members}
        what = (f"the same file is in {' and '.join(splits)}" if len(files) == 1
                else f"{len(files)} files with the same bytes")
        for split in splits:
            first = next(path for name, path in members if name == split)
            drafts[split].report.add("duplicate_file", first, f"{what}: {shown}", listed)


def configured_splits(cfg: DataConfig) -> tuple[str, ...]:
    """The splits ``cfg`` names: train, and val when configured or held out."""
    return SPLITS if cfg.val_fraction > 0 or configured(cfg, "val") else ("train",)


def prepare_data(cfg: Config, splits: tuple[str, ...] = SPLITS, run_dir: Path | None = None,
                 report_dir: Path | None = None, strict: bool = True) -> tuple[dict[str, PreparedSplit], DataReport]:
    """Read, scan and check ``splits``; write the report to ``report_dir`` (if given) and, when
    ``strict``, raise ``DataError`` for what cannot be trained on (``DataReport.raise_for``)."""
    start = time.perf_counter()
    set_pixel_limit(cfg.data.max_image_pixels)
    drafts = _drafts(cfg, splits, run_dir)
    paths = [d.path(im) for d in drafts.values() for im in d.images]
    infos, decoded = scan_images(paths, cfg.data.scan_cache)
    _duplicates(drafts, infos)
    prepared = {}
    for name, draft in drafts.items():
        draft.report.name, draft.report.source = name, draft.source
        coco = finish(draft, infos)
        if name == "train" and noise_active(cfg.data.noise):
            coco, _, note = corrupt(coco, cfg.data.noise)
            draft.report.notes.append(note)
        prepared[name] = PreparedSplit(coco, draft.root, draft.source)
    report = DataReport([d.report for d in drafts.values()], time.perf_counter() - start, decoded)
    report_file = report.write(report_dir) if report_dir is not None else None
    if strict:
        report.raise_for(cfg.data.on_bad_image, report_file)
    return prepared, report


def build_dataset(cfg: Config, split: str, train_transforms: bool | None = None,
                  prepared: PreparedSplit | None = None) -> CocoDetection:
    """The ``split`` dataset, prepared now unless ``prepared`` is given."""
    if prepared is None:
        prepared = prepare_data(cfg, (split,))[0][split]
    train = split == "train" if train_transforms is None else train_transforms
    filter_empty = cfg.data.filter_empty and split == "train"
    coco = coco_from_dict(prepared.coco, prepared.source)
    return CocoDetection(prepared.root, coco, DetectionTransform(cfg.augment, train=train), filter_empty,
                         source=prepared.source, on_bad_image=cfg.data.on_bad_image, scanned=True,
                         mosaic_prob=cfg.augment.mosaic_prob if train else 0.0, mosaic_size=cfg.augment.image_size)


def collate(batch: list[tuple[Tensor, Sample]]) -> tuple[Tensor, Targets]:
    """Stack images (padded with the normalisation mean to the largest H, W) into (N, 3, H, W) and pad the targets to
    the most boxes per image (``core.structures.Targets``)."""
    images = [b[0] for b in batch]
    h = max(im.shape[1] for im in images)
    w = max(im.shape[2] for im in images)
    # padded with the normalisation mean, which the model turns into 0: torchvision's and detectron2's padding
    out = torch.tensor(IMAGENET_MEAN, dtype=images[0].dtype).view(1, 3, 1, 1).repeat(len(images), 1, h, w)
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


def build_loader(dataset: Dataset, batch_size: int, num_workers: int, rank: int = 0, world: int = 1) -> DataLoader:
    """One pass over ``dataset`` in order (evaluation, inference); with ``world`` > 1, rank
    ``rank``'s round-robin share (``shard_order``)."""
    order = shard_order(list(range(len(cast(Sized, dataset)))), batch_size, rank, world, drop_last=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=num_workers, collate_fn=collate,
                      pin_memory=torch.cuda.is_available(), worker_init_fn=ignore_stop_signals)


class TrainingOrder(Sampler):
    """The endless training stream of ``(epoch, index)`` items: each epoch a permutation seeded by
    (seed, epoch), whole global batches only, this rank's share of each (``shard_order``), starting
    ``start`` global batches in. A resumed run therefore sees exactly the batches the uninterrupted
    one would have, and one DataLoader serves the whole run: its workers start once, not every epoch."""

    def __init__(self, size: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world: int = 1) -> None:
        if size < batch_size:
            raise ValueError(f"train.batch_size {batch_size} exceeds the {size} training images")
        self.size, self.batch_size, self.seed, self.start = size, batch_size, seed, start
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_epoch = self.size // self.batch_size
        epoch, skip = divmod(self.start, per_epoch)
        while True:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(self.size, generator=generator)[skip * self.batch_size:per_epoch * self.batch_size]
            for index in shard_order(order.tolist(), self.batch_size, self.rank, self.world, drop_last=True):
                yield epoch, index
            epoch, skip = epoch + 1, 0


def build_train_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int, start: int = 0,
                       rank: int = 0, world: int = 1, prefetch_factor: int = 2) -> DataLoader:
    """The training loader of a whole run (``TrainingOrder``); ``batch_size`` is the global batch,
    of which each of ``world`` processes loads ``batch_size // world``. Pinned memory on CUDA
    machines, so the trainer's non-blocking copies overlap the step."""
    return DataLoader(dataset, batch_size=batch_size // world, num_workers=num_workers, collate_fn=collate,
                      sampler=TrainingOrder(len(cast(Sized, dataset)), batch_size, seed, start, rank, world),
                      pin_memory=torch.cuda.is_available(), prefetch_factor=prefetch_factor if num_workers else None,
                      # a stop sent to the whole process group reaches the workers too: the main process handles it
                      worker_init_fn=ignore_stop_signals,
                      # the workers' base seed from a private generator: loaders never consume the global RNG
                      generator=torch.Generator().manual_seed(seed))
