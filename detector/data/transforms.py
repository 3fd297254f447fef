"""The image + box transform of training and evaluation, through albumentations: resize
(letterbox or shortest edge), then for training flip and colour jitter."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from torch import Tensor

from detector.core.config import AugmentConfig


def resize_scale(height: int, width: int, mode: str, size: int, max_size: int) -> float:
    """Output pixels per input pixel for an image of (height, width) under resize ``mode``."""
    if mode == "letterbox":
        return size / max(height, width)
    return min(size / min(height, width), max_size / max(height, width))


class DetectionTransform:
    """Resize (see ``AugmentConfig.resize``), then flip and colour jitter for training.
    ``image_only`` is the same preprocessing for images without boxes (inference, export).

    "letterbox" pads bottom/right to ``image_size`` x ``image_size``; "shortest_edge" leaves the
    size free (the collate function pads each batch). Boxes stay in absolute pixels (pascal_voc
    format) and are checked by albumentations; the resize factor is returned so predictions map
    back to original pixels.
    """

    def __init__(self, cfg: AugmentConfig, train: bool) -> None:
        size = cfg.image_size
        self.cfg = cfg
        ops: list[A.BasicTransform] = []
        if cfg.resize == "letterbox":
            ops += [A.LongestMaxSize(max_size=size),
                    A.PadIfNeeded(min_height=size, min_width=size, position="top_left",
                                  border_mode=cv2.BORDER_CONSTANT, fill=0)]
        if train and cfg.hflip_prob > 0:
            ops.append(A.HorizontalFlip(p=cfg.hflip_prob))
        if train and cfg.color_jitter_prob > 0:
            ops.append(A.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast,
                                     saturation=cfg.saturation, hue=cfg.hue, p=cfg.color_jitter_prob))
        self.size = size
        self.pipeline = A.Compose(
            ops, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels", "crowd"], clip=True),
        ) if ops else None  # shortest_edge at evaluation: the resize above is all there is

    def reseed(self, seed: int) -> None:
        """Make the next call's random choices a function of ``seed`` alone. Each transform gets its
        own stream: albumentations' ``set_random_seed`` gives them all the same one, which would tie
        e.g. the flip decision to the colour-jitter decision."""
        if self.pipeline is None:
            return
        self.pipeline.set_random_seed(seed)
        for i, t in enumerate(self.pipeline.transforms):
            t.set_random_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, crowd: np.ndarray,
                 seed: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
        """image (H, W, 3) uint8; boxes (M, 4) xyxy -> image (3, H', W') float in [0, 1], boxes (M', 4),
        labels (M',), crowd (M',) bool, and the resize factor (output pixels per input pixel).
        With ``seed`` the augmentation is reproducible (see ``reseed``)."""
        if seed is not None:
            self.reseed(seed)
        h, w = image.shape[:2]
        scale = resize_scale(h, w, self.cfg.resize, self.size, self.cfg.max_size)
        boxes = boxes.reshape(-1, 4)
        if self.cfg.resize == "shortest_edge" and scale != 1.0:
            out_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
            image = cv2.resize(image, out_hw[::-1], interpolation=cv2.INTER_LINEAR)
            boxes = boxes * np.array([out_hw[1] / w, out_hw[0] / h] * 2, dtype=np.float32)
        if self.pipeline is None:
            out = {"image": image, "bboxes": boxes, "labels": labels, "crowd": crowd}
        else:
            out = self.pipeline(image=image, bboxes=boxes, labels=labels, crowd=crowd)
        tensor = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float().div_(255)
        return (
            tensor,
            torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)),
            torch.as_tensor(np.asarray(out["labels"], dtype=np.int64)),
            torch.as_tensor(np.asarray(out["crowd"], dtype=bool)),
            scale,
        )

    def image_only(self, image: np.ndarray) -> tuple[Tensor, float]:
        """(H, W, 3) uint8 RGB -> the model input (3, H', W') in [0, 1] and the resize factor."""
        tensor, _, _, _, scale = self(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, bool))
        return tensor, scale
