"""Evaluate a model on a COCO-format dataset: predictions -> results JSON -> COCO metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from detector.data.build import build_loader
from detector.data.coco import CocoDetection
from detector.engine.distributed import current, gather_lists
from detector.evaluation.coco_eval import coco_evaluate, format_table, metrics_dict
from detector.evaluation.voc_eval import voc_evaluate
from detector.evaluation.predict import predict, to_coco_results
from detector.postprocess import PostProcessor


@dataclass
class EvalResult:
    stats: dict[str, float]  # STAT_KEYS -> fraction in 0..1
    per_class: dict[str, float]  # class name -> AP
    results: list[dict[str, Any]]  # COCO results format, real category ids
    detections: list[dict[str, Tensor]]  # per image, original pixels, contiguous labels
    voc: dict[str, Any]  # VOC07_AP50, VOC_AP50 and per_class (see voc_eval.voc_evaluate)

    def table(self) -> str:
        return format_table(self.stats, self.per_class, self.voc)

    def metrics(self) -> dict[str, Any]:
        """What metrics.json holds: STAT_KEYS, per-class AP and the VOC AP50 figures."""
        return metrics_dict(self.stats, self.per_class, self.voc)


def evaluate_dataset(model: nn.Module, postprocess: PostProcessor, dataset: CocoDetection, batch_size: int,
                     num_workers: int, device: torch.device, amp_dtype: torch.dtype | None = None,
                     channels_last: bool = False, backend: str = "faster_coco_eval") -> EvalResult:
    """Under torch.distributed each process predicts its share of the images; the detections are
    gathered, put back in dataset order, and every process computes the same metrics."""
    info = current()
    loader = build_loader(dataset, batch_size, num_workers, shuffle=False, rank=info.rank, world=info.world)
    detections, image_ids = predict(model, postprocess, loader, device, amp_dtype, channels_last)
    if info.world > 1:
        position = {image_id: n for n, image_id in enumerate(dataset.image_ids)}
        pairs = sorted(gather_lists(list(zip(image_ids, detections))), key=lambda p: position[p[0]])
        image_ids, detections = [p[0] for p in pairs], [p[1] for p in pairs]
    results = to_coco_results(detections, image_ids, dataset.cat_ids)
    stats, per_class, _ = coco_evaluate(dataset.coco, results, image_ids, backend)
    return EvalResult(stats, per_class, results, detections, voc_evaluate(dataset.coco, results, image_ids))
