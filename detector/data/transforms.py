"""The image + box transform of training and evaluation, through albumentations: for training a
box-safe random crop, then resize (letterbox or shortest edge), then for training flip and colour
jitter; and multi-scale training, which resizes whole batches (``multiscale_size``, ``rescale_batch``)."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from detector.core.config import AugmentConfig

SIZE_STEP = 32  # multi-scale sides are multiples of this (the stride of P5; few distinct shapes)


def multiscale_size(hw: tuple[int, int], scale_range: list[float], seed: int, step: int) -> tuple[int, int] | None:
    """The (height, width) that multi-scale training resizes step ``step``'s batch of (h, w) images to:
    a factor drawn uniformly from ``scale_range`` by (seed, step) alone (resume draws the same), sides
    rounded to multiples of ``SIZE_STEP``; None when the range is [1, 1] (off)."""
    low, high = scale_range
    if low == high == 1.0:
        return None
    factor = np.random.default_rng([seed % 2**32, step]).uniform(low, high)
    h, w = (max(SIZE_STEP, round(side * factor / SIZE_STEP) * SIZE_STEP) for side in hw)
    return h, w


def rescale_batch(images: Tensor, boxes: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """images (N, 3, H, W), boxes (N, M, 4) xyxy in their pixels -> images (N, 3, h, w) resized
    (bilinear) and the boxes scaled with them, each axis by its own factor."""
    height, width = images.shape[-2:]
    out = F.interpolate(images, size=hw, mode="bilinear", align_corners=False)
    factor = boxes.new_tensor([hw[1] / width, hw[0] / height] * 2)
    return out, boxes * factor


def resize_scale(height: int, width: int, mode: str, size: int, max_size: int) -> float:
    """Output pixels per input pixel for an image of (height, width) under resize ``mode``."""
    if mode == "letterbox":
        return size / max(height, width)
    return min(size / min(height, width), max_size / max(height, width))


class DetectionTransform:
    """For training a box-safe random crop (``crop_prob``), then resize (see ``AugmentConfig.resize``),
    then flip and colour jitter for training.
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
        self.pipeline = _compose(ops)  # None: shortest_edge at evaluation, where the resize is all there is
        # before the resize, so that a crop is a zoom: the region holding every box fills the input
        crop = [A.BBoxSafeRandomCrop(erosion_rate=0.0, p=cfg.crop_prob)] if train and cfg.crop_prob > 0 else []
        self.crop = _compose(crop)

    def reseed(self, seed: int) -> None:
        """Make the next call's random choices a function of ``seed`` alone. Each transform gets its
        own stream: albumentations' ``set_random_seed`` gives them all the same one, which would tie
        e.g. the flip decision to the colour-jitter decision."""
        for offset, pipeline in ((0, self.pipeline), (1000, self.crop)):  # the crop's streams apart from the rest
            if pipeline is None:
                continue
            pipeline.set_random_seed(seed)
            for i, t in enumerate(pipeline.transforms):
                t.set_random_seed(int(np.random.SeedSequence([seed, offset + i]).generate_state(1)[0]))

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, crowd: np.ndarray,
                 seed: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, float]:
        """image (H, W, 3) uint8; boxes (M, 4) xyxy -> image (3, H', W') float in [0, 1], boxes (M', 4),
        labels (M',), crowd (M',) bool, and the resize factor (output pixels per input pixel).
        With ``seed`` the augmentation is reproducible (see ``reseed``)."""
        if seed is not None:
            self.reseed(seed)
        if self.crop is not None:  # training only: the resize factor below is then the cropped image's
            out = self.crop(image=image, bboxes=boxes.reshape(-1, 4), labels=labels, crowd=crowd)
            image, labels, crowd = out["image"], np.asarray(out["labels"]), np.asarray(out["crowd"], dtype=bool)
            boxes = np.asarray(out["bboxes"], dtype=np.float32)
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


def _compose(ops: list[A.BasicTransform]) -> A.Compose | None:
    """The albumentations pipeline of ``ops`` with boxes in absolute xyxy (pascal_voc), clipped to the
    image, labels and crowd flags carried along; None for no ops."""
    if not ops:
        return None
    return A.Compose(ops, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels", "crowd"], clip=True))
