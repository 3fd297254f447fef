"""Detections drawn on images (class name and score), for TensorBoard and detect.py."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.utils import draw_bounding_boxes


def draw_detections(image: Tensor, det: dict[str, Tensor], class_names: list[str], min_score: float = 0.3,
                    color: str = "red") -> Tensor:
    """image (3, H, W) uint8; det ``boxes`` (D, 4) xyxy in its pixels, ``scores``, ``labels`` ->
    (3, H, W) uint8 with the detections scoring >= ``min_score`` drawn."""
    keep = det["scores"] >= min_score
    labels = [f"{class_names[c]} {s:.2f}" for c, s in zip(det["labels"][keep].tolist(), det["scores"][keep].tolist())]
    if not labels:
        return image
    width = max(1, round(max(image.shape[-2:]) / 300))
    return draw_bounding_boxes(image, det["boxes"][keep].float(), labels, colors=color, width=width)


def to_uint8(image: Tensor) -> Tensor:
    """(3, H, W) float in [0, 1] -> uint8."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)
