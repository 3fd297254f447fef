"""A training run from a config: device, data (scanned and checked), model, criterion, optimiser."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from detector.core.boxes import BoxCoder
from detector.core.config import Config
from detector.core.device import amp_dtype, resolve_amp, resolve_device, seed_everything
from detector.core.distributed import current, main_first
from detector.data.build import build_dataset, prepare_data, require_training_images
from detector.data.coco import CocoDetection
from detector.data.problems import DataError
from detector.engine.run_files import RunFiles
from detector.engine.schedule import build_optimizer, build_scheduler
from detector.engine.trainer import Trainer
from detector.evaluation.coverage import coverage_warning
from detector.inference.postprocess import build_postprocessor
from detector.losses.criterion import build_criterion, classification_params
from detector.model.retinanet import build_model
from detector.model.weights import init_from


def run_dir_of(cfg: Config) -> Path:
    return Path(cfg.train.output_dir or Path("runs") / cfg.name)


def build_trainer(cfg: Config, initialise: bool = True, started: float | None = None) -> Trainer:
    """Everything a run needs; ``initialise=False`` skips ``model.init_from`` (resuming). ``started``
    (``time.perf_counter()``) is when the run began, for ``solver.time_budget``; default now."""
    started = time.perf_counter() if started is None else started
    seed_everything(cfg.train.seed)
    info = current()
    device = resolve_device(cfg.train.device)
    if info.world > 1 and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if cfg.train.batch_size % info.world:
        raise ValueError(f"train.batch_size {cfg.train.batch_size} is the global batch and must be a multiple "
                         f"of the {info.world} processes")
    if cfg.train.sync_bn and device.type != "cuda":
        raise ValueError("train.sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); on the CPU "
                         "use model.backbone.frozen_bn=true, or train.sync_bn=false")
    cfg.train.amp, why = resolve_amp(cfg.train.amp, device)  # the run's record says what it used
    if info.main:
        print(f"precision: train.amp={cfg.train.amp} ({why})")
    amp_dtype(cfg.train.amp, device)  # config mistakes surface before the data scan
    classification_params(cfg.loss)  # loss mistakes, too, surface before the data scan
    run_dir = run_dir_of(cfg)
    train_set, val_set = build_datasets(cfg, run_dir, info.main)
    counts = train_set.class_counts() if cfg.loss.class_alpha != "none" else None
    criterion = build_criterion(cfg.loss, cfg.matcher, counts, cfg.model.anchors)
    if counts is not None and info.main:
        weights = criterion.classification.state_dict()["class_alpha"]
        print(f"loss.class_alpha=inverse_frequency: training boxes per class {dict(zip(train_set.class_names, counts))}"
              f" -> positives' alpha {cfg.loss.alpha} x "
              f"{dict(zip(train_set.class_names, [round(w, 3) for w in weights]))}")
    model = build_model(cfg.model, len(train_set.cat_ids))
    if cfg.model.init_from and initialise:
        print(f"initialising from {cfg.model.init_from}:\n"
              + init_from(model, cfg.model.init_from, cfg.model.head.norm,
                        dict(zip(train_set.cat_ids, train_set.class_names))).summary())
    model = model.to(device)
    if cfg.train.sync_bn and info.world > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg.solver)
    postprocess = build_postprocessor(cfg.inference, BoxCoder(cfg.loss.box_coder_weights))
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16")
    return Trainer(cfg, run_dir, device, model, criterion, postprocess, optimizer,
                   build_scheduler(optimizer, cfg.solver), scaler, train_set, val_set, info, started=started)


def build_datasets(cfg: Config, run_dir: Path, main: bool) -> tuple[CocoDetection, CocoDetection]:
    """(train, val) after the data scan: its report goes to the run folder and its summary to the
    console (rank 0), and every process stops together on what cannot be trained on."""
    with main_first():  # rank 0 generates/scans the data first; the others then read its cache
        prepared, report = prepare_data(cfg, run_dir=run_dir, strict=False)
    report_file = RunFiles(run_dir, enabled=main).data_report(report) or run_dir / "data_report.txt"
    report.raise_for(cfg.data.on_bad_image, report_file)
    if main:
        print(report.summary() + f"\n(every problem: {report_file})")
    require_training_images(prepared, cfg.data.filter_empty)
    train_set, val_set = (build_dataset(cfg, s, prepared=prepared[s]) for s in ("train", "val"))
    if len(train_set) == 0:  # every box dropped as degenerate under data.filter_empty
        raise DataError(f"the training split of {train_set.source} has no images with usable boxes "
                        "(data.filter_empty=true)")
    warning = coverage_warning(train_set, cfg.augment, cfg.model.anchors, cfg.matcher)
    if warning:
        print(warning)
    return train_set, val_set
