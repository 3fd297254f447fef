"""Rebuild a trained detector from a checkpoint: model, post-processing and label map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from detector.core.boxes import BoxCoder
from detector.core.checkpoint import CheckpointError, load_checkpoint
from detector.core.config import Config, apply_overrides, from_dict
from detector.core.device import amp_dtype, resolve_device
from detector.inference.postprocess import PostProcessor, build_postprocessor
from detector.model.retinanet import RetinaNet, build_model
from detector.model.weights import init_from


@dataclass
class Detector:
    cfg: Config
    model: RetinaNet  # in eval mode, on ``device``
    postprocess: PostProcessor
    cat_ids: list[int]  # label -> dataset category id
    class_names: list[str]
    device: torch.device

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return amp_dtype(self.cfg.inference.amp, self.device)


def load_detector(path: str | Path, overrides: list[str] | None = None, edit: Any = None) -> Detector:
    """The detector saved in checkpoint ``path``; ``overrides`` change its config (e.g. inference
    thresholds); ``edit(cfg)`` may change it further before anything is built."""
    state = load_checkpoint(path)
    cfg = from_dict(state["config"])
    if edit is not None:
        edit(cfg)
    apply_overrides(cfg, overrides or [])
    device = resolve_device(cfg.train.device)
    cat_ids = list(state["cat_ids"])
    cfg.model.init_from = ""  # the checkpoint has the weights
    model = build_model(cfg.model, len(cat_ids))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint '{path}' does not fit the model of its config: "
                              f"{str(exc).splitlines()[0]}") from None
    post = build_postprocessor(cfg.inference, BoxCoder(cfg.loss.box_coder_weights))
    return Detector(cfg, model.to(device).eval(), post, cat_ids, list(state["class_names"]), device)


def detector_from_weights(cfg: Config, weights: str | Path, cat_ids: list[int], class_names: list[str]) -> Detector:
    """A detector of ``cfg``'s architecture for a dataset's classes, from a weights file (one of
    our checkpoints, or torchvision's RetinaNet state_dict: for COCO's categories its classifier
    is mapped by category id).
    A classifier the file cannot provide is an error: evaluating a random layer measures nothing."""
    model = build_model(cfg.model, len(cat_ids))
    report = init_from(model, weights, cfg.model.head.norm, dict(zip(cat_ids, class_names)))
    if report.reinitialised or any(k.startswith("cls_head.out") for k in report.missing):
        raise CheckpointError(f"'{weights}' does not fit this model for classes {cat_ids}:\n{report.summary()}")
    device = resolve_device(cfg.train.device)
    post = build_postprocessor(cfg.inference, BoxCoder(cfg.loss.box_coder_weights))
    return Detector(cfg, model.to(device).eval(), post, list(cat_ids), list(class_names), device)
