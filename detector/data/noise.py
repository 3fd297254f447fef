"""Annotation noise of the kinds annotators make, applied to a training split on purpose (studies of
how losses cope with it): boxes left out, class labels swapped, boxes drawn loosely. Validation
data is never touched. Deterministic in ``data.noise.seed``."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from detector.core.config import NoiseConfig


def noise_active(cfg: NoiseConfig) -> bool:
    return cfg.missing > 0 or cfg.swap > 0 or cfg.jitter > 0


def corrupt(coco: dict[str, Any], cfg: NoiseConfig) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """(a corrupted copy of the COCO dict ``coco``, the annotations it left out as they were, a
    one-line account). Crowd boxes are kept as they are. Each other box is independently, in this order:

    - left out with probability ``missing`` (a missed object: it becomes background to the loss);
    - given another class, uniformly among the rest, with probability ``swap``;
    - moved edge by edge by N(0, ``jitter`` x its width or height), kept inside its image and at
      least 1 px wide.
    """
    rng = np.random.default_rng([cfg.seed, 7919])
    out = copy.deepcopy(coco)
    sizes = {im["id"]: (im["width"], im["height"]) for im in out["images"]}
    cat_ids = sorted(c["id"] for c in out["categories"])
    kept, left_out, swapped, jittered = [], [], 0, 0
    for ann in out["annotations"]:
        if ann.get("iscrowd", 0):
            kept.append(ann)
            continue
        if rng.random() < cfg.missing:
            left_out.append(ann)
            continue
        if len(cat_ids) > 1 and rng.random() < cfg.swap:
            ann["category_id"] = int(rng.choice([c for c in cat_ids if c != ann["category_id"]]))
            swapped += 1
        if cfg.jitter > 0:
            ann["bbox"] = _jitter(ann["bbox"], cfg.jitter, sizes[ann["image_id"]], rng)
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
            jittered += 1
        kept.append(ann)
    out["annotations"] = kept
    total = len(coco["annotations"])
    return out, left_out, (f"label noise (data.noise): of {total} training boxes, {len(left_out)} left out, "
                           f"{swapped} given another class, {jittered} jittered by {cfg.jitter} x their size "
                           f"(seed {cfg.seed})")


def _jitter(bbox: list[float], scale: float, size: tuple[int, int], rng: np.random.Generator) -> list[float]:
    """COCO [x, y, w, h] with each edge moved by N(0, scale x the box's width/height)."""
    x, y, w, h = bbox
    width, height = size
    x0, x1 = np.clip([x, x + w] + rng.normal(0, scale * w, 2), 0, width)
    y0, y1 = np.clip([y, y + h] + rng.normal(0, scale * h, 2), 0, height)
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    x1, y1 = max(x1, min(x0 + 1, width)), max(y1, min(y0 + 1, height))
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
