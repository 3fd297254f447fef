"""The built-in shapes benchmark: a seeded generator of a detection dataset with dialable imbalance.

Labeled objects (filled circles, squares, triangles, ...) of log-uniform sizes (so most are small)
sit on textured backgrounds among unlabeled clutter that looks partly like them (rings, outlines,
crosses, strokes): the hard negatives that make dense detection an imbalance problem. Images and
COCO-format JSON are written to disk so that the same COCO loading and evaluation path is used as
for real data. A ``synthetic.json`` file records the generating config; a different config
regenerates the folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from detector.core.boxes import pairwise_iou, xyxy_to_xywh
from detector.core.config import SyntheticConfig

SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "ellipse")
SPLIT_SEEDS = {"train": 0, "val": 1_000_003}
MAX_OVERLAP = 0.3  # objects overlapping more than this (IoU) are re-placed, so labels stay visible


def _polygon(shape: str, cx: float, cy: float, w: float, h: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        return [(cx, cy - h / 2), (cx + w / 2, cy + h / 2), (cx - w / 2, cy + h / 2)]
    if shape == "diamond":
        return [(cx, cy - h / 2), (cx + w / 2, cy), (cx, cy + h / 2), (cx - w / 2, cy)]
    if shape == "hexagon":
        return [(cx + w / 2 * math.cos(a), cy + h / 2 * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    raise ValueError(shape)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
               color: tuple[int, int, int]) -> None:
    """Fill ``shape`` so that it touches all four sides of ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    if shape in ("circle", "ellipse"):
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    elif shape in SHAPES:
        draw.polygon(_polygon(shape, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0), fill=color)
    else:
        raise ValueError(f"unknown synthetic shape '{shape}'; choose from {SHAPES}")


def _background(rng: np.random.Generator, size: int, textured: bool) -> Image.Image:
    base = rng.integers(40, 216, size=3)
    if not textured:
        return Image.fromarray(np.broadcast_to(base, (size, size, 3)).astype(np.uint8))
    coarse = rng.normal(0, 35, size=(rng.integers(3, 9), rng.integers(3, 9), 3))
    low = np.asarray(Image.fromarray(np.clip(base + coarse, 0, 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    noise = rng.normal(0, rng.uniform(3, 14), size=(size, size, 1))
    return Image.fromarray(np.clip(low + noise, 0, 255).astype(np.uint8))


def _color(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rng.integers(0, 256, size=3))
    return r, g, b


def _draw_clutter(rng: np.random.Generator, draw: ImageDraw.ImageDraw, size: int, cfg: SyntheticConfig) -> None:
    """Unlabeled distractors: rings and outlines of object-like shapes, crosses and strokes."""
    lo, hi = cfg.size_range
    for _ in range(rng.integers(cfg.distractors_per_image[0], cfg.distractors_per_image[1] + 1)):
        s = float(np.exp(rng.uniform(math.log(lo), math.log(hi * 1.5))))
        x0, y0 = rng.uniform(-s / 2, size - s / 2, size=2)
        box = (x0, y0, x0 + s, y0 + s)
        width = max(1, int(s * rng.uniform(0.08, 0.2)))
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.ellipse(box, outline=_color(rng), width=width)
        elif kind == 1:
            draw.rectangle(box, outline=_color(rng), width=width)
        elif kind == 2:
            c = _color(rng)
            draw.line((x0, y0 + s / 2, x0 + s, y0 + s / 2), fill=c, width=width)
            draw.line((x0 + s / 2, y0, x0 + s / 2, y0 + s), fill=c, width=width)
        else:
            x1, y1 = rng.uniform(0, size, size=2)
            draw.line((x0, y0, x1, y1), fill=_color(rng), width=width)


def _place_objects(rng: np.random.Generator, cfg: SyntheticConfig, split: str) -> list[tuple[int, list[float]]]:
    """(class index, [x0, y0, x1, y1]) for each object of one image, with limited overlap."""
    if rng.random() < cfg.empty_fraction:
        return []
    weights = np.asarray(cfg.val_class_weights if split == "val" and cfg.val_class_weights else cfg.class_weights,
                         dtype=np.float64)
    weights = weights / weights.sum()
    lo, hi = cfg.size_range
    size = cfg.image_size
    placed: list[tuple[int, list[float]]] = []
    for _ in range(rng.integers(cfg.objects_per_image[0], cfg.objects_per_image[1] + 1)):
        cls = int(rng.choice(len(weights), p=weights))
        for _attempt in range(10):
            side = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
            aspect = float(np.exp(rng.uniform(-0.3, 0.3)))  # mild stretch: w/h in ~[0.74, 1.35]
            w, h = min(side * aspect, size - 1), min(side / aspect, size - 1)
            x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            box = [round(x0), round(y0), round(x0 + w), round(y0 + h)]
            others = torch.tensor([other for _, other in placed], dtype=torch.float64).reshape(-1, 4)
            if not placed or pairwise_iou(torch.tensor([box], dtype=torch.float64), others).max() <= MAX_OVERLAP:
                placed.append((cls, [float(v) for v in box]))
                break
    return placed


def render_image(cfg: SyntheticConfig, index: int, split: str) -> tuple[Image.Image, list[tuple[int, list[float]]]]:
    """One deterministic image and its objects: same (config, split, index) -> same pixels."""
    rng = np.random.default_rng([cfg.seed, SPLIT_SEEDS[split], index])
    image = _background(rng, cfg.image_size, cfg.textured_background)
    draw = ImageDraw.Draw(image)
    _draw_clutter(rng, draw, cfg.image_size, cfg)
    objects = _place_objects(rng, cfg, split)
    for cls, box in objects:
        # the drawn shape spans pixels x0..x1-1, so its tight box is exactly ``box``
        draw_shape(draw, cfg.classes[cls], (box[0], box[1], box[2] - 1, box[3] - 1), _color(rng))
    return image, objects


def write_split(cfg: SyntheticConfig, root: Path, split: str, count: int) -> Path:
    """Render ``count`` images to ``root/split`` and their COCO JSON to ``root/annotations``."""
    image_dir = root / split
    image_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(count):
        image, objects = render_image(cfg, i, split)
        name = f"{i:06d}.png"
        image.save(image_dir / name, compress_level=1)
        images.append({"id": i + 1, "file_name": name, "width": cfg.image_size, "height": cfg.image_size})
        for cls, (x0, y0, x1, y1) in objects:
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": cls + 1,
                "bbox": xyxy_to_xywh([x0, y0, x1, y1]), "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
            })
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(cfg.classes)]
    ann_path = root / "annotations" / f"{split}.json"
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return ann_path


def ensure_synthetic(cfg: SyntheticConfig, root: str | Path) -> Path:
    """Generate the dataset under ``root`` unless it already holds one made from the same config."""
    root = Path(root)
    meta_path = root / "synthetic.json"
    wanted = dataclasses.asdict(cfg)
    if not cfg.val_class_weights:  # datasets made before the option existed stay valid
        del wanted["val_class_weights"]
    if meta_path.is_file() and json.loads(meta_path.read_text()) == wanted:
        return root
    for weights in (cfg.class_weights, cfg.val_class_weights):
        if weights and len(weights) != len(cfg.classes):
            raise ValueError(f"data.synthetic: {len(weights)} class weights {weights} for {len(cfg.classes)} classes")
    for cls in cfg.classes:
        if cls not in SHAPES:
            raise ValueError(f"data.synthetic.classes: unknown shape '{cls}'; choose from {list(SHAPES)}")
    if root.exists():
        if not meta_path.is_file():
            raise FileExistsError(f"'{root}' exists but holds no synthetic.json; refusing to overwrite it")
        shutil.rmtree(root)
    write_split(cfg, root, "train", cfg.num_train)
    write_split(cfg, root, "val", cfg.num_val)
    meta_path.write_text(json.dumps(wanted, indent=1))  # written last: marks a complete dataset
    return root
