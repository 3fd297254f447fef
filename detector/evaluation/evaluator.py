"""Evaluate a model on a COCO-format dataset: predictions -> results JSON -> COCO metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from torch import nn

from detector.core.config import Config, load_config
from detector.core.distributed import current, gather_lists
from detector.core.structures import Detections
from detector.data.build import build_dataset, build_loader
from detector.data.coco import CocoDetection
from detector.evaluation.coco_eval import coco_evaluate, format_table, metrics_dict
from detector.evaluation.figures import close, confusion_matrix, plot_confusion, plot_pr_curves, save
from detector.evaluation.voc_eval import voc_evaluate
from detector.inference.detector import Detector, detector_from_weights, load_detector
from detector.inference.postprocess import PostProcessor
from detector.inference.predict import predict, to_coco_results


@dataclass
class EvalResult:
    stats: dict[str, float]  # STAT_KEYS -> fraction in 0..1
    per_class: dict[str, float]  # class name -> AP
    results: list[dict[str, Any]]  # COCO results format, real category ids
    detections: list[Detections]  # per image, original pixels, contiguous labels
    voc: dict[str, Any]  # VOC07_AP50, VOC_AP50 and per_class (see voc_eval.voc_evaluate)
    pr50: dict[str, np.ndarray] = field(default_factory=dict)  # class -> precision (101,) at IoU 0.5
    confusion: np.ndarray | None = None  # (K + 1, K + 1), see figures.confusion_matrix
    confusion_score: float = 0.3

    def table(self) -> str:
        return format_table(self.stats, self.per_class, self.voc)

    def metrics(self) -> dict[str, Any]:
        """What metrics.json holds: STAT_KEYS, per-class AP and the VOC AP50 figures."""
        return metrics_dict(self.stats, self.per_class, self.voc)

    def figures(self) -> dict[str, Any]:
        """name -> matplotlib figure: ``pr_curves`` and ``confusion_matrix``."""
        ap50 = {name: float(p[p >= 0].mean()) if (p >= 0).any() else -1.0 for name, p in self.pr50.items()}
        out = {"pr_curves": plot_pr_curves(self.pr50, ap50)}
        if self.confusion is not None:
            out["confusion_matrix"] = plot_confusion(self.confusion, list(self.pr50), self.confusion_score, 0.5)
        return out

    def save_figures(self, folder: Path, keep_open: bool = True) -> dict[str, Any]:
        """The figures as ``<folder>/<name>.png``; returns them open (for TensorBoard, whose logger
        closes them), or closed with ``keep_open=False``."""
        figures = self.figures()
        for name, fig in figures.items():
            save(fig, folder / f"{name}.png")
            if not keep_open:
                close(fig)
        return figures


def evaluate_dataset(model: nn.Module, postprocess: PostProcessor, dataset: CocoDetection, batch_size: int,
                     num_workers: int, device: torch.device, amp_dtype: torch.dtype | None = None,
                     channels_last: bool = False, backend: str = "faster_coco_eval",
                     confusion_score: float = 0.3) -> EvalResult:
    """Under torch.distributed each process predicts its share of the images; the detections are
    gathered, put back in dataset order, and every process computes the same metrics."""
    info = current()
    loader = build_loader(dataset, batch_size, num_workers, rank=info.rank, world=info.world)
    detections, image_ids = predict(model, postprocess, loader, device, amp_dtype, channels_last)
    if info.world > 1:
        position = {image_id: n for n, image_id in enumerate(dataset.image_ids)}
        pairs = sorted(gather_lists(list(zip(image_ids, detections))), key=lambda p: position[p[0]])
        image_ids, detections = [p[0] for p in pairs], [p[1] for p in pairs]
    results = to_coco_results(detections, image_ids, dataset.cat_ids)
    stats, per_class, pr50 = coco_evaluate(dataset.coco, results, image_ids, backend)
    truths = [dataset.annotations(i) for i in image_ids]
    confusion = confusion_matrix(detections, truths, len(dataset.cat_ids), 0.5, confusion_score)
    return EvalResult(stats, per_class, results, detections, voc_evaluate(dataset.coco, results, image_ids),
                      pr50, confusion, confusion_score)


def score_results(coco_gt: COCO, detections: list[dict[str, Any]], backend: str = "faster_coco_eval") -> EvalResult:
    """Metrics of a COCO results list against ``coco_gt`` (no model: no confusion matrix)."""
    stats, per_class, pr50 = coco_evaluate(coco_gt, detections, backend=backend)
    return EvalResult(stats, per_class, detections, [], voc_evaluate(coco_gt, detections), pr50)


def evaluate_checkpoint(path: str | Path, overrides: list[str], images: str = "", annotations: str = "",
                        config: str | Path | None = None) -> tuple[EvalResult, CocoDetection, Detector]:
    """A checkpoint on its config's validation split, or on the ``images`` / ``annotations`` given
    (read in the checkpoint's ``data.dataset`` format). With ``config``, ``path`` is a weights
    file (e.g. torchvision's COCO RetinaNet) for that config's model, on that config's data."""
    def point_at_data(cfg: Config) -> None:
        cfg.data.val_images = images or cfg.data.val_images
        cfg.data.val_annotations = annotations or cfg.data.val_annotations
    if config is not None:
        cfg = load_config(config, overrides)
        point_at_data(cfg)
        dataset = build_dataset(cfg, "val")
        det = detector_from_weights(cfg, path, dataset.cat_ids, dataset.class_names)
    else:
        det = load_detector(path, overrides, point_at_data)
        dataset = build_dataset(det.cfg, "val")
    if dataset.cat_ids != det.cat_ids:
        raise ValueError(f"{dataset.source} has category ids {dataset.cat_ids}, the checkpoint was "
                         f"trained on {det.cat_ids}")
    result = evaluate_dataset(det.model, det.postprocess, dataset, det.cfg.train.batch_size,
                              det.cfg.train.num_workers, det.device, det.amp_dtype,
                              backend=det.cfg.evaluation.backend, confusion_score=det.cfg.evaluation.confusion_score)
    return result, dataset, det
