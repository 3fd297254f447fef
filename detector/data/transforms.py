"""Box-aware augmentation through albumentations: letterbox resize, flip, colour jitter."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from torch import Tensor

from detector.config import AugmentConfig


class Letterbox:
    """Resize so the longest side is ``size`` and pad bottom/right to ``size`` x ``size``.

    Boxes are kept in absolute pixels (pascal_voc format) and checked by albumentations; the
    resize factor is returned so predictions can be mapped back to original pixels.
    """

    def __init__(self, cfg: AugmentConfig, train: bool) -> None:
        size = cfg.image_size
        ops: list[A.BasicTransform] = [
            A.LongestMaxSize(max_size=size),
            A.PadIfNeeded(min_height=size, min_width=size, position="top_left",
                          border_mode=cv2.BORDER_CONSTANT, fill=0),
        ]
        if train and cfg.hflip_prob > 0:
            ops.append(A.HorizontalFlip(p=cfg.hflip_prob))
        if train and cfg.color_jitter_prob > 0:
            ops.append(A.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast,
                                     saturation=cfg.saturation, hue=cfg.hue, p=cfg.color_jitter_prob))
        self.size = size
        self.pipeline = A.Compose(
            ops, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels", "crowd"], clip=True),
        )

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, crowd: np.ndarray
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
        """image (H, W, 3) uint8; boxes (M, 4) xyxy -> image (3, S, S) float in [0, 1], boxes (M', 4),
        labels (M',), crowd (M',) bool, and the resize factor (output pixels per input pixel)."""
        scale = self.size / max(image.shape[:2])
        out = self.pipeline(image=image, bboxes=boxes.reshape(-1, 4), labels=labels, crowd=crowd)
        tensor = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float().div_(255)
        return (
            tensor,
            torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)),
            torch.as_tensor(np.asarray(out["labels"], dtype=np.int64)),
            torch.as_tensor(np.asarray(out["crowd"], dtype=bool)),
            scale,
        )
