"""Box geometry: formats, batched IoU, the anchor-relative box coder, and IoU matching with named
sentinels. The one home of box arithmetic: tensors convert with ``torchvision.ops.box_convert``;
annotation rows (Python lists) with ``xywh_to_xyxy`` / ``xyxy_to_xywh`` / ``cxcywh_to_xywh`` here.

Everything here works on whole batches: ground truth is padded to (N, M, 4) with a validity mask so
that one IoU call and one argmax match every anchor of every image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from detector.core.config import MatcherConfig

# Match results for an anchor that is not assigned to any ground-truth box.
BACKGROUND = -1  # IoU < bg_iou with every box: trained as negative for every class
IGNORE = -2  # in the ambiguous band or covered by a crowd box: excluded from the loss


def xywh_to_xyxy(box: Sequence[float]) -> list[float]:
    """One COCO box [x, y, w, h] -> [x0, y0, x1, y1]."""
    x, y, w, h = box
    return [x, y, x + w, y + h]


def xyxy_to_xywh(box: Sequence[float]) -> list[float]:
    """One [x0, y0, x1, y1] box -> COCO [x, y, w, h]."""
    x0, y0, x1, y1 = box
    return [x0, y0, x1 - x0, y1 - y0]


def cxcywh_to_xywh(box: Sequence[float], width: float = 1.0, height: float = 1.0) -> list[float]:
    """One centre box [cx, cy, w, h] (YOLO: fractions of the image) -> [x, y, w, h] scaled by the image size."""
    cx, cy, w, h = box
    return [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]


def box_area(boxes: Tensor) -> Tensor:
    """(..., 4) xyxy -> (...) area, zero for degenerate boxes."""
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def pairwise_intersection(a: Tensor, b: Tensor) -> Tensor:
    """a (..., A, 4), b (..., M, 4) xyxy -> (..., A, M) intersection areas.

    Coordinate by coordinate with in-place updates: at 10^5 anchors x 25 boxes this is memory-bound,
    and avoiding (..., A, M, 2) temporaries halves the time.
    """
    ax1, ay1, ax2, ay2 = (t[..., :, None] for t in a.unbind(-1))
    bx1, by1, bx2, by2 = (t[..., None, :] for t in b.unbind(-1))
    iw = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    ih = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    return iw.mul_(ih)


def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """a (..., A, 4), b (..., M, 4) xyxy -> (..., A, M) IoU; batch dims broadcast.

    Equals ``torchvision.ops.box_iou`` for 2-D inputs; empty unions give 0, not NaN.
    """
    inter = pairwise_intersection(a, b)
    union = (box_area(a)[..., :, None] + box_area(b)[..., None, :]).sub_(inter)
    return inter.div_(union.clamp_(min=torch.finfo(inter.dtype).tiny))


def _elementwise_inter_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    return inter, box_area(a) + box_area(b) - inter


def elementwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of matching rows: a, b (..., 4) xyxy -> (...)."""
    inter, union = _elementwise_inter_union(a, b)
    return inter / union.clamp(min=1e-12)


def elementwise_giou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """Generalized IoU of matching rows: a, b (..., 4) xyxy -> (...). ``1 -`` this equals
    ``torchvision.ops.generalized_box_iou_loss`` (same ``eps``), which assigns through boolean masks
    (a host synchronisation on a GPU); this is masks-free elementwise arithmetic."""
    inter, union = _elementwise_inter_union(a, b)
    enclosing = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).prod(dim=-1)
    return inter / (union + eps) - (enclosing - union) / (enclosing + eps)


class BoxCoder:
    """Encodes boxes as (dx, dy, dw, dh) offsets from anchors (Girshick et al., R-CNN), and back.

    ``weights`` scale the four deltas; ``clamp`` caps dw/dh before exp() so a wild prediction
    cannot overflow (the detectron2/torchvision value log(1000/16)).
    """

    def __init__(self, weights: tuple[float, ...] | list[float] = (1.0, 1.0, 1.0, 1.0),
                 clamp: float = math.log(1000.0 / 16)) -> None:
        if len(weights) != 4:
            raise ValueError(f"BoxCoder needs 4 weights, got {list(weights)}")
        self.weights = tuple(float(w) for w in weights)
        self.clamp = clamp

    def encode(self, boxes: Tensor, anchors: Tensor) -> Tensor:
        """boxes, anchors (..., 4) xyxy (broadcastable) -> (..., 4) deltas."""
        wx, wy, ww, wh = self.weights
        aw = anchors[..., 2] - anchors[..., 0]
        ah = anchors[..., 3] - anchors[..., 1]
        ax = anchors[..., 0] + 0.5 * aw
        ay = anchors[..., 1] + 0.5 * ah
        bw = boxes[..., 2] - boxes[..., 0]
        bh = boxes[..., 3] - boxes[..., 1]
        bx = boxes[..., 0] + 0.5 * bw
        by = boxes[..., 1] + 0.5 * bh
        return torch.stack(
            (wx * (bx - ax) / aw, wy * (by - ay) / ah, ww * torch.log(bw / aw), wh * torch.log(bh / ah)),
            dim=-1,
        )

    def decode(self, deltas: Tensor, anchors: Tensor) -> Tensor:
        """deltas (..., 4), anchors (..., 4) xyxy (broadcastable) -> (..., 4) xyxy boxes."""
        wx, wy, ww, wh = self.weights
        deltas = deltas.float()
        aw = anchors[..., 2] - anchors[..., 0]
        ah = anchors[..., 3] - anchors[..., 1]
        ax = anchors[..., 0] + 0.5 * aw
        ay = anchors[..., 1] + 0.5 * ah
        cx = deltas[..., 0] / wx * aw + ax
        cy = deltas[..., 1] / wy * ah + ay
        w = torch.exp((deltas[..., 2] / ww).clamp(max=self.clamp)) * aw
        h = torch.exp((deltas[..., 3] / wh).clamp(max=self.clamp)) * ah
        return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def overlaps(anchors: Tensor, gt_boxes: Tensor, gt_valid: Tensor, gt_crowd: Tensor | None
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """What both matchers start from: crowd (N, M) and usable (N, M) box masks (valid, and crowd
    or not), the intersections (N, A, M) and the IoUs (N, A, M) of ``anchors`` (A, 4) with ``gt_boxes``."""
    crowd = (gt_crowd & gt_valid) if gt_crowd is not None else torch.zeros_like(gt_valid)
    inter = pairwise_intersection(anchors, gt_boxes)  # (N, A, M)
    union = (box_area(anchors)[:, None] + box_area(gt_boxes)[:, None, :]) - inter
    return crowd, gt_valid & ~crowd, inter, inter / union.clamp(min=torch.finfo(inter.dtype).tiny)


class Matcher:
    """Assigns each anchor the index of a ground-truth box, BACKGROUND or IGNORE, for a whole batch.

    IoU >= fg_iou is foreground, IoU < bg_iou background; the band in between is ignored because
    those anchors are neither clearly object nor clearly not (the paper's 0.4/0.5 split).
    With ``allow_low_quality`` every box also claims the anchor(s) it overlaps most, so that a box
    no anchor covers at fg_iou still gets a positive (torchvision/detectron2 behaviour).
    Anchors overlapped by a crowd box (intersection / anchor area >= crowd_ioa) are ignored, not
    background: a crowd region contains objects we must not teach the model to call background.
    """

    def __init__(self, fg_iou: float = 0.5, bg_iou: float = 0.4, allow_low_quality: bool = True,
                 crowd_ioa: float = 0.5) -> None:
        if bg_iou > fg_iou:
            raise ValueError(f"bg_iou ({bg_iou}) must be <= fg_iou ({fg_iou})")
        self.fg_iou = fg_iou
        self.bg_iou = bg_iou
        self.allow_low_quality = allow_low_quality
        self.crowd_ioa = crowd_ioa

    def __call__(self, anchors: Tensor, gt_boxes: Tensor, gt_valid: Tensor, gt_crowd: Tensor | None = None,
                 anchors_per_level: list[int] | None = None) -> Tensor:
        """anchors (A, 4); gt_boxes (N, M, 4) padded; gt_valid (N, M) bool; gt_crowd (N, M) bool;
        ``anchors_per_level`` is not used (the thresholds are the same on every level).

        Returns (N, A) int64: the matched box index in 0..M-1, BACKGROUND or IGNORE.
        """
        n, m = gt_valid.shape
        if m == 0:
            return anchors.new_full((n, anchors.shape[0]), BACKGROUND, dtype=torch.long)
        # static shapes and no data-dependent branch: no host synchronisation, compiles as one graph
        crowd, usable, inter, iou = overlaps(anchors, gt_boxes, gt_valid, gt_crowd)
        iou = iou.masked_fill(~usable[:, None, :], -1.0)
        best_iou, matches = iou.max(dim=2)  # (N, A)

        matches = torch.where(best_iou < self.fg_iou, IGNORE, matches)
        matches = torch.where(best_iou < self.bg_iou, BACKGROUND, matches)

        if self.allow_low_quality:
            best_per_gt = iou.max(dim=1, keepdim=True).values  # (N, 1, M)
            # anchors tied for a box's best IoU (> 0) are positives, matched to their own best box
            is_best = (iou == best_per_gt) & (best_per_gt > 0) & usable[:, None, :]
            low_quality = is_best.any(dim=2)  # (N, A)
            matches = torch.where(low_quality, iou.argmax(dim=2), matches)

        return ignore_in_crowds(matches, anchors, inter, crowd, self.crowd_ioa) if gt_crowd is not None else matches


def ignore_in_crowds(matches: Tensor, anchors: Tensor, inter: Tensor, crowd: Tensor, crowd_ioa: float) -> Tensor:
    """``matches`` (N, A) with the BACKGROUND anchors that a crowd box covers (intersection / anchor
    area >= ``crowd_ioa``; ``inter`` (N, A, M), ``crowd`` (N, M)) made IGNORE."""
    ioa = (inter / box_area(anchors).clamp(min=1e-6)[:, None]).masked_fill(~crowd[:, None, :], 0.0)
    covered = ioa.max(dim=2).values >= crowd_ioa
    return torch.where(covered & (matches == BACKGROUND), IGNORE, matches)


class AtssMatcher:
    """Adaptive training sample selection (Zhang et al., CVPR 2020), batched like ``Matcher``.

    For each box, the ``topk`` grid positions of each level whose anchor centres are nearest the box
    centre give the candidates (``topk * per_location`` anchors a level, as the authors' code counts
    with several anchors per position); a candidate is a positive when its IoU with the box is at least
    the mean + standard deviation of all candidates' IoUs and its centre lies inside the box. Every
    other anchor is BACKGROUND (no ignored band); an anchor chosen by several boxes takes the one it
    overlaps most. The threshold adapts to each box: small or oddly shaped boxes, which no anchor
    covers at a fixed IoU of 0.5, still get positives on the level that fits them best.
    """

    def __init__(self, topk: int = 9, per_location: int = 1, crowd_ioa: float = 0.5) -> None:
        if topk < 1 or per_location < 1:
            raise ValueError(f"topk ({topk}) and per_location ({per_location}) must be >= 1")
        self.candidates = topk * per_location
        self.crowd_ioa = crowd_ioa

    def __call__(self, anchors: Tensor, gt_boxes: Tensor, gt_valid: Tensor, gt_crowd: Tensor | None = None,
                 anchors_per_level: list[int] | None = None) -> Tensor:
        """As ``Matcher``; ``anchors_per_level``: how many of the A anchors each level holds, in
        order (None: one level). Returns (N, A) int64: box index, or BACKGROUND / IGNORE."""
        n, m = gt_valid.shape
        num_anchors = anchors.shape[0]
        if m == 0:
            return anchors.new_full((n, num_anchors), BACKGROUND, dtype=torch.long)
        crowd, usable, inter, iou = overlaps(anchors, gt_boxes, gt_valid, gt_crowd)
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2  # (A, 2)
        distance = torch.cdist(centres.expand(n, -1, -1), (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2)  # (N, A, M)
        picks, start = [], 0
        for count in anchors_per_level or [num_anchors]:  # a handful of levels; every op inside is batched
            nearest = distance[:, start:start + count].topk(min(self.candidates, count), dim=1, largest=False)
            picks.append(nearest.indices + start)
            start += count
        candidates = torch.cat(picks, dim=1)  # (N, C, M) anchor indices
        candidate_iou = iou.gather(1, candidates)  # (N, C, M)
        threshold = candidate_iou.mean(dim=1, keepdim=True) + candidate_iou.std(dim=1, keepdim=True).nan_to_num(0.0)
        centre = centres[candidates]  # (N, C, M, 2)
        inside = torch.minimum(centre - gt_boxes[:, None, :, :2], gt_boxes[:, None, :, 2:] - centre).amin(dim=-1) > 0
        chosen = (candidate_iou >= threshold) & inside & usable[:, None, :]
        positive = torch.zeros_like(iou, dtype=torch.bool).scatter_(1, candidates, chosen)  # (N, A, M)
        best_iou, best = iou.masked_fill(~positive, -1.0).max(dim=2)  # (N, A)
        matches = torch.where(best_iou >= 0, best, BACKGROUND)
        return ignore_in_crowds(matches, anchors, inter, crowd, self.crowd_ioa) if gt_crowd is not None else matches


AnchorMatcher = Matcher | AtssMatcher  # (anchors, gt_boxes, gt_valid, gt_crowd, anchors_per_level) -> (N, A)


def build_matcher(cfg: MatcherConfig, per_location: int) -> AnchorMatcher:
    """The one builder of the anchor-to-box matcher from config (training, coverage, instruments);
    ``per_location``: anchors per grid position (``AnchorConfig.per_location``), which ATSS counts in."""
    if cfg.name == "atss":
        return AtssMatcher(cfg.topk, per_location, cfg.crowd_ioa)
    return Matcher(cfg.fg_iou, cfg.bg_iou, cfg.allow_low_quality, cfg.crowd_ioa)
