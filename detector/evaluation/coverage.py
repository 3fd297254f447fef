"""Anchor coverage: which ground-truth boxes the configured anchors can learn, and better anchors.

A box is *covered* when some anchor overlaps it at IoU >= matcher.fg_iou, i.e. it gets a positive
by the IoU rule. With ``allow_low_quality`` an uncovered box still claims its best anchor, but that
anchor sits below the foreground threshold and regresses from far away: the usual reason for
"mAP is 0 on my data". Computed from annotations alone (boxes scaled by the resize the data
pipeline applies), without decoding images.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torchvision.utils import draw_bounding_boxes

from detector.core.boxes import BACKGROUND, IGNORE, build_matcher, pairwise_iou
from detector.core.config import AnchorConfig, AugmentConfig, MatcherConfig
from detector.data.coco import CocoDetection
from detector.data.transforms import resize_scale
from detector.evaluation.draw import to_uint8
from detector.model.anchors import build_anchor_generator, feature_sizes, level_counts

SIZE_BUCKETS = (0, 16, 32, 64, 128, 256, math.inf)  # sqrt(area) in model-input pixels
RATIO_BUCKETS = (0, 0.25, 0.5, 2.0, 4.0, math.inf)  # height / width


@dataclass
class ImageBoxes:
    boxes: Tensor  # (M, 4) xyxy in model-input pixels, crowd boxes left out
    input_hw: tuple[int, int]  # the padded input size anchors are laid on
    image_id: int
    labels: Tensor | None = None  # (M,) contiguous class of each box, when known


def dataset_boxes(dataset: CocoDetection, augment: AugmentConfig, max_images: int = 0) -> list[ImageBoxes]:
    """Every image's non-crowd boxes as the model sees them after the (deterministic) resize."""
    ids = dataset.image_ids[:max_images] if max_images else dataset.image_ids
    out = []
    for image_id in ids:
        info = dataset.coco.imgs[image_id]
        boxes, labels, crowd = dataset.annotations(image_id)
        h, w = int(info.get("height") or 0), int(info.get("width") or 0)
        if not (h and w):
            continue
        scale = resize_scale(h, w, augment.resize, augment.image_size, augment.max_size)
        hw = (augment.image_size,) * 2 if augment.resize == "letterbox" else (round(h * scale), round(w * scale))
        out.append(ImageBoxes(torch.as_tensor(boxes[~crowd] * scale), hw, image_id, torch.as_tensor(labels[~crowd])))
    return out


@dataclass
class Coverage:
    fg_iou: float = 0.5
    num_boxes: int = 0
    num_images: int = 0
    covered: int = 0
    best_iou: list[float] = field(default_factory=list)  # per box
    sizes: list[float] = field(default_factory=list)  # per box, sqrt(area)
    ratios: list[float] = field(default_factory=list)  # per box, h / w
    positives: list[int] = field(default_factory=list)  # per image, with low-quality matches
    negatives: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    class_boxes: Counter[int] = field(default_factory=Counter)  # class -> boxes (images with labels)
    class_positives: Counter[int] = field(default_factory=Counter)  # class -> positive anchors
    uncovered_ids: dict[int, list[int]] = field(default_factory=dict)  # image id -> box indices

    @property
    def fraction_covered(self) -> float:
        return self.covered / max(self.num_boxes, 1)

    def buckets(self, by: str) -> list[tuple[str, int, int]]:
        """(bucket label, boxes, uncovered boxes) by "size" or "ratio"."""
        values, edges = (self.sizes, SIZE_BUCKETS) if by == "size" else (self.ratios, RATIO_BUCKETS)
        v, miss = np.asarray(values), np.asarray(self.best_iou) < self.fg_iou
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = (v >= lo) & (v < hi)
            if inside.any():
                rows.append((f"{lo:g}-{hi:g}", int(inside.sum()), int((inside & miss).sum())))
        return rows


def measure(images: list[ImageBoxes], anchors: AnchorConfig, matcher: MatcherConfig) -> Coverage:
    """Coverage of ``images`` by the anchors of ``anchors`` under the ``matcher`` rules."""
    generator = build_anchor_generator(anchors)
    match = build_matcher(matcher, anchors.per_location)
    cov = Coverage(fg_iou=matcher.fg_iou)
    for item in images:
        grid = generator(feature_sizes(*item.input_hw), torch.device("cpu"))  # (A, 4)
        boxes = item.boxes.float()
        cov.num_images += 1
        valid = torch.ones(1, len(boxes), dtype=torch.bool)
        m = match(grid, boxes[None], valid, None, level_counts(item.input_hw, anchors))[0]  # (A,)
        cov.positives.append(int((m >= 0).sum()))
        cov.negatives.append(int((m == BACKGROUND).sum()))
        cov.ignored.append(int((m == IGNORE).sum()))
        if len(boxes) == 0:
            continue
        if item.labels is not None:  # the class ratio among positives, beside the one among boxes
            cov.class_boxes.update(item.labels.tolist())
            cov.class_positives.update(item.labels[m[m >= 0]].tolist())
        best = pairwise_iou(grid, boxes).max(dim=0).values  # (M,)
        wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-6)
        cov.num_boxes += len(boxes)
        cov.covered += int((best >= matcher.fg_iou).sum())
        cov.best_iou += best.tolist()
        cov.sizes += wh.prod(dim=1).sqrt().tolist()
        cov.ratios += (wh[:, 1] / wh[:, 0]).tolist()
        missed = torch.nonzero(best < matcher.fg_iou).flatten().tolist()
        if missed:
            cov.uncovered_ids[item.image_id] = missed
    return cov


def suggest(images: list[ImageBoxes], anchors: AnchorConfig, matcher: MatcherConfig
            ) -> tuple[AnchorConfig, Coverage]:
    """Anchors (P3 size doubling per level, ratios from the boxes' own shapes) that cover the most
    boxes, chosen by measuring each candidate; returns the best and its coverage."""
    cov = measure(images, anchors, matcher)
    if not cov.num_boxes:
        return anchors, cov
    ratios = np.asarray(cov.ratios)
    shape_sets = [list(anchors.ratios)]
    lo, mid, hi = (float(np.quantile(ratios, q)) for q in (0.1, 0.5, 0.9))
    shape_sets.append(sorted({round(lo, 2), round(mid, 2), round(hi, 2)}))
    small = float(np.quantile(np.asarray(cov.sizes), 0.02))
    bases = sorted({max(4.0, float(round(small * f))) for f in (0.8, 1.0, 1.25)} | {float(anchors.sizes[0])})
    best_cfg, best_cov = anchors, cov
    for base in bases:
        for shapes in shape_sets:
            cand = AnchorConfig(sizes=[base * 2 ** i for i in range(5)], scales=list(anchors.scales),
                                ratios=shapes, torchvision_compat=anchors.torchvision_compat)
            c = measure(images, cand, matcher)
            if c.covered > best_cov.covered:
                best_cfg, best_cov = cand, c
    return best_cfg, best_cov


def format_coverage(cov: Coverage, title: str, class_names: list[str] | None = None) -> str:
    pos = np.asarray(cov.positives, dtype=float)
    neg = np.asarray(cov.negatives, dtype=float)
    lines = [f"{title}: {cov.covered}/{cov.num_boxes} boxes covered ({100 * cov.fraction_covered:.1f}%) in "
             f"{cov.num_images} images",
             f"  positive anchors per image {pos.mean():.1f} (median {np.median(pos):.0f}), "
             f"foreground:background 1:{neg.sum() / max(pos.sum(), 1):.0f}, "
             f"ignored per image {np.mean(cov.ignored):.1f}"]
    for by in ("size", "ratio"):
        label = "sqrt(area) px" if by == "size" else "height/width"
        cells = ", ".join(f"{b}: {n - m}/{n}" for b, n, m in cov.buckets(by))
        lines.append(f"  covered by {label}: {cells}")
    if cov.class_positives:
        boxes, positives = cov.class_boxes.total(), cov.class_positives.total()
        name = (lambda k: class_names[k]) if class_names else str
        cells = ", ".join(f"{name(k)} {100 * cov.class_boxes[k] / boxes:.0f}% / "
                          f"{100 * cov.class_positives[k] / positives:.0f}% "
                          f"({cov.class_positives[k] / cov.class_boxes[k]:.1f} per box)"
                          for k in sorted(cov.class_boxes))
        lines.append(f"  class shares of boxes / of positive anchors: {cells}")
    return "\n".join(lines)


def anchor_override(cfg: AnchorConfig) -> str:
    fmt = lambda xs: "[" + ",".join(f"{x:g}" for x in xs) + "]"  # noqa: E731
    return f"model.anchors.sizes={fmt(cfg.sizes)} model.anchors.ratios={fmt(cfg.ratios)}"


def coverage_warning(dataset: CocoDetection, augment: AugmentConfig, anchors: AnchorConfig,
                     matcher: MatcherConfig, min_fraction: float = 0.8, sample: int = 500) -> str | None:
    """A one-paragraph warning when fewer than ``min_fraction`` of the boxes (of the first
    ``sample`` images) are covered; None when coverage is fine."""
    cov = measure(dataset_boxes(dataset, augment, sample), anchors, matcher)
    if not cov.num_boxes or cov.fraction_covered >= min_fraction:
        return None
    worst = max(cov.buckets("size"), key=lambda b: b[2])
    return (f"warning: anchors cover only {100 * cov.fraction_covered:.0f}% of the training boxes "
            f"(IoU >= {matcher.fg_iou}); most misses are boxes of sqrt(area) {worst[0]} px "
            f"({worst[2]} of {worst[1]}). Run `focaldet anchors --config <your config>` for a report and "
            "measured better anchors.")


def draw_coverage(dataset: CocoDetection, image_id: int, anchors: AnchorConfig, matcher: MatcherConfig) -> Tensor:
    """(3, H, W) uint8 model-input image: covered boxes green, uncovered red, positive anchors yellow."""
    image, target = dataset[dataset.image_ids.index(image_id)]
    boxes = target["boxes"][~target["crowd"]]
    grid = build_anchor_generator(anchors)(feature_sizes(*image.shape[-2:]), torch.device("cpu"))
    match = build_matcher(matcher, anchors.per_location)
    valid = torch.ones(1, len(boxes), dtype=torch.bool)
    matches = match(grid, boxes[None], valid, None, level_counts(image.shape[-2:], anchors))[0]
    canvas = draw_bounding_boxes(to_uint8(image), grid[matches >= 0], colors="yellow", width=1)
    if len(boxes):
        covered = pairwise_iou(grid, boxes).max(dim=0).values >= matcher.fg_iou
        canvas = draw_bounding_boxes(canvas, boxes, colors=["green" if c else "red" for c in covered.tolist()], width=2)
    return canvas
