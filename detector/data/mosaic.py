"""Mosaic augmentation (YOLOv4/v5): four training images in one input, each at the scale the letterbox
resize gives it, around a random centre, so one input holds more objects, more contexts and objects cut
by the image border."""

from __future__ import annotations

import cv2
import numpy as np

Part = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # image (H, W, 3) uint8, boxes (M, 4) xyxy, labels, crowd


def mosaic(parts: list[Part], size: int, rng: np.random.Generator, min_visible: float = 0.25) -> Part:
    """Four parts -> one (size, size, 3) image and its boxes (M', 4) xyxy, labels (M',), crowd (M',).

    Each image is scaled so that its longer side is ``size`` (the letterbox scale) and placed with one
    corner at a centre drawn uniformly in the output: the first to the top left of it, then top right,
    bottom left, bottom right (YOLOv5's layout, seen through its centre window). Boxes are cut to what
    is visible; a box keeps its place only if at least ``min_visible`` of its area is visible and it is
    at least a pixel wide and high, so slivers of objects are not taught as objects. Empty canvas is 0,
    the letterbox padding."""
    if len(parts) != 4:
        raise ValueError(f"a mosaic takes 4 images, got {len(parts)}")
    out = np.zeros((size, size, 3), np.uint8)
    cx, cy = (int(v) for v in rng.integers(0, size + 1, size=2))
    kept: list[Part] = []
    for k, (image, boxes, labels, crowd) in enumerate(parts):
        h, w = image.shape[:2]
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        x0 = cx - nw if k in (0, 2) else cx  # where the scaled image's top-left corner lands in the output
        y0 = cy - nh if k in (0, 1) else cy
        ox0, oy0, ox1, oy1 = max(x0, 0), max(y0, 0), min(x0 + nw, size), min(y0 + nh, size)
        if ox1 <= ox0 or oy1 <= oy0:
            continue
        scaled = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        out[oy0:oy1, ox0:ox1] = scaled[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0]
        moved = boxes.reshape(-1, 4) * scale + np.array([x0, y0, x0, y0], np.float32)
        cut = np.concatenate([np.maximum(moved[:, :2], [ox0, oy0]), np.minimum(moved[:, 2:], [ox1, oy1])], axis=1)
        full = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
        wh = cut[:, 2:] - cut[:, :2]
        visible = (wh >= 1).all(axis=1) & (wh.clip(min=0).prod(axis=1) >= min_visible * full)
        kept.append((image, cut[visible].astype(np.float32), labels[visible], crowd[visible]))
    # the centre lies in the output, so at least one part is in it
    return (out, np.concatenate([b for _, b, _, _ in kept]), np.concatenate([lab for _, _, lab, _ in kept]),
            np.concatenate([c for _, _, _, c in kept]))
