"""Boxes drawn on images: one colour per class, labels on a filled tag in a TrueType font, so they
read on any background and at any image size (torchvision.utils does the drawing)."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.utils import draw_bounding_boxes, make_grid

from detector.core.structures import Detections
from detector.data.coco import CocoDetection
from detector.data.images import load_rgb


@lru_cache(maxsize=1)
def label_font() -> str | None:
    """Path of DejaVu Sans, which matplotlib ships (torchvision's fallback font is 6 px tall)."""
    try:
        from matplotlib import font_manager
        return font_manager.findfont("DejaVu Sans", fallback_to_default=True)
    except (ImportError, ValueError):
        return None


def class_colors(num_classes: int) -> list[tuple[int, int, int]]:
    """Distinct RGB colours: matplotlib's tab10 (tab20 for more classes), repeated past 20."""
    from matplotlib import colormaps
    cmap = colormaps["tab10" if num_classes <= 10 else "tab20"]
    colors = []
    for i in range(max(num_classes, 1)):
        r, g, b = (int(round(255 * c)) for c in cmap(i % cmap.N)[:3])
        colors.append((r, g, b))
    return colors


def _text_color(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light tags, white on dark ones (relative luminance)."""
    return (0, 0, 0) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 150 else (255, 255, 255)


def draw_boxes(image: Tensor, boxes: Tensor, labels: Tensor, class_names: list[str],
               scores: Tensor | None = None) -> Tensor:
    """image (3, H, W) uint8, boxes (D, 4) xyxy in its pixels, labels (D,) in 0..K-1, optional
    scores (D,) -> (3, H, W) uint8 with each box in its class colour and a "name [score]" tag."""
    if len(boxes) == 0:
        return image
    palette = class_colors(len(class_names))
    colors = [palette[c] for c in labels.tolist()]
    text = [class_names[c] + (f" {s:.2f}" if scores is not None else "")
            for c, s in zip(labels.tolist(), (scores if scores is not None else labels).tolist())]
    side = max(image.shape[-2:])
    return draw_bounding_boxes(image, boxes.float(), text, colors=colors, width=max(2, round(side / 250)),
                               font=label_font(), font_size=max(13, round(side / 28)),
                               label_colors=[_text_color(c) for c in colors], fill_labels=True)


def draw_detections(image: Tensor, det: Detections, class_names: list[str], min_score: float = 0.3) -> Tensor:
    """image (3, H, W) uint8; det ``boxes`` (D, 4) xyxy in its pixels, ``scores``, ``labels`` ->
    (3, H, W) uint8 with the detections scoring >= ``min_score`` drawn."""
    keep = det["scores"] >= min_score
    return draw_boxes(image, det["boxes"][keep], det["labels"][keep], class_names, det["scores"][keep])


def to_uint8(image: Tensor) -> Tensor:
    """(3, H, W) float in [0, 1] -> uint8."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def _fit(image: Tensor, boxes: Tensor, tile: int) -> tuple[Tensor, Tensor]:
    """(3, H, W) uint8 resized to fit ``tile`` x ``tile`` (padded black), boxes scaled with it."""
    scale = tile / max(image.shape[-2:])
    h, w = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[2] * scale))
    resized = F.interpolate(image[None].float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    out = torch.zeros((3, tile, tile), dtype=torch.uint8)
    out[:, :h, :w] = resized[0].round().clamp(0, 255).to(torch.uint8)
    return out, boxes * scale


def ground_truth_grid(dataset: CocoDetection, count: int = 16, tile: int = 384) -> Tensor:
    """(3, H, W) uint8: ``count`` images spread over ``dataset`` (those with boxes first), each
    fitted to ``tile`` px with its ground-truth boxes in class colours; crowd/difficult boxes are
    tagged "(ignored)"."""
    with_boxes = [i for i in dataset.image_ids if len(dataset.annotations(i)[1])]
    chosen_first = set(with_boxes)
    pool = with_boxes + ([i for i in dataset.image_ids if i not in chosen_first] if len(with_boxes) < count else [])
    step = max(len(pool) / max(count, 1), 1.0)
    chosen = [pool[int(k * step)] for k in range(min(count, len(pool)))]
    names = dataset.class_names + [f"{n} (ignored)" for n in dataset.class_names]
    tiles = []
    for image_id in chosen:
        pixels = torch.from_numpy(load_rgb(dataset.image_path(image_id))).permute(2, 0, 1).contiguous()
        boxes, labels, crowd = (torch.from_numpy(a) for a in dataset.annotations(image_id))
        pixels, boxes = _fit(pixels, boxes, tile)
        tiles.append(draw_boxes(pixels, boxes, labels + crowd.long() * len(dataset.class_names), names))
    if not tiles:
        return torch.zeros((3, tile, tile), dtype=torch.uint8)
    return make_grid(torch.stack(tiles), nrow=math.ceil(math.sqrt(len(tiles))), padding=4, pad_value=255)


def draw_file(path: Path, det: Detections, class_names: list[str], min_score: float,
              min_size: int = 0) -> Tensor:
    """An image file with ``det`` drawn, integer-upscaled to at least ``min_size`` px on its longer
    side first (so labels stay legible on small images) -> (3, H, W) uint8."""
    image = torch.from_numpy(load_rgb(path)).permute(2, 0, 1).contiguous()
    factor = max(1, -(-min_size // max(image.shape[-2:])))  # ceil
    if factor > 1:
        image = image.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
        det = Detections(boxes=det["boxes"] * factor, scores=det["scores"], labels=det["labels"])
    return draw_detections(image, det, class_names, min_score)
