"""Pure loss functions and the RetinaNet criterion, computed for the whole batch at once."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

from detector.core.boxes import BACKGROUND, IGNORE, BoxCoder, Matcher, elementwise_iou
from detector.losses.classification import GHMC, ohem_keep, quality_focal_loss
from detector.core.config import LossConfig, MatcherConfig
from detector.core.distributed import mean_over_ranks


CLS_LOSSES = ("focal", "bce", "balanced_ce", "ohem", "ghm", "qfl")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got '{reduction}'")


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> Tensor:
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), elementwise over logits and {0, 1} (or soft) targets.

    ``alpha < 0`` turns off the alpha weighting; with ``gamma = 0`` and ``alpha < 0`` this is plain
    binary cross-entropy, so focal loss and the BCE baseline share one code path.
    Same inputs, same value as ``torchvision.ops.sigmoid_focal_loss``.
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    targets = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = ce
    if gamma != 0:
        p = torch.sigmoid(logits)
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def smooth_l1_loss(pred: Tensor, target: Tensor, beta: float, reduction: str = "none") -> Tensor:
    """Huber-style loss, quadratic below ``beta`` and linear above; ``beta = 0`` is plain L1."""
    if beta <= 0:
        return _reduce((pred - target).abs(), reduction)
    return _reduce(F.smooth_l1_loss(pred, target, beta=beta, reduction="none"), reduction)


class RetinaNetLoss:
    """Matches anchors to ground truth and returns ``{"loss_cls", "loss_box"}`` plus statistics.

    Both terms are sums over anchors divided by the number of positive anchors in the batch
    (at least 1): with ~10^4-10^5 anchors per image, a per-anchor mean would let the easy
    background dominate, while the positive count tracks how much real signal the batch carries.
    """

    def __init__(self, matcher: Matcher, coder: BoxCoder, cls_loss: str = "focal", alpha: float = 0.25,
                 gamma: float = 2.0, box_loss: str = "smooth_l1", beta: float = 0.1,
                 box_weight: float = 1.0, normalizer_momentum: float = 0.0, ohem_ratio: float = 3.0,
                 ghm_bins: int = 10, ghm_momentum: float = 0.75, qfl_beta: float = 2.0) -> None:
        if cls_loss not in CLS_LOSSES:
            raise ValueError(f"cls_loss must be one of {CLS_LOSSES}, got '{cls_loss}'")
        if box_loss not in ("smooth_l1", "l1", "giou"):
            raise ValueError(f"box_loss must be 'smooth_l1', 'l1' or 'giou', got '{box_loss}'")
        self.matcher = matcher
        self.coder = coder
        self.cls_loss = cls_loss
        # focal: alpha and gamma; alpha-balanced CE: alpha only; BCE (and OHEM on BCE): neither
        self.alpha = alpha if cls_loss in ("focal", "balanced_ce") else -1.0
        self.gamma = gamma if cls_loss == "focal" else 0.0
        self.ohem_ratio = ohem_ratio
        self.ghm = GHMC(ghm_bins, ghm_momentum) if cls_loss == "ghm" else None
        self.qfl_beta = qfl_beta
        self.box_loss = box_loss
        self.beta = beta
        self.box_weight = box_weight
        self.momentum = normalizer_momentum
        self.normalizer_ema: float | None = None

    def _classification(self, logits: Tensor, cls_targets: Tensor, positive: Tensor, not_ignored: Tensor,
                        normalizer: Tensor) -> tuple[Tensor, Tensor]:
        """logits, cls_targets (N, A, K); positive, not_ignored (N, A) bool ->
        (loss scalar, per-element loss (N, A, K) that entered it)."""
        if self.cls_loss == "ghm":
            return self.ghm(logits, cls_targets, not_ignored[..., None])
        if self.cls_loss == "qfl":
            per_elem = quality_focal_loss(logits, cls_targets, self.qfl_beta)
        else:
            per_elem = sigmoid_focal_loss(logits, cls_targets, self.alpha, self.gamma)
        keep = not_ignored
        if self.cls_loss == "ohem":
            keep = ohem_keep(per_elem.sum(dim=2), positive, not_ignored & ~positive, self.ohem_ratio)
        per_elem = per_elem * keep[..., None].to(per_elem.dtype)
        return per_elem.sum() / normalizer, per_elem

    def _box(self, deltas: Tensor, pos_deltas: Tensor, pos_anchors: Tensor, matched_boxes: Tensor,
             normalizer: Tensor) -> Tensor:
        """Box regression over the P positives: (P, 4) deltas, anchors and matched boxes -> scalar."""
        if len(pos_deltas) == 0:
            # keeps the graph connected (so DDP and grad hooks see every parameter) yet is exactly 0
            return deltas.sum() * 0.0
        if self.box_loss == "giou":
            box = generalized_box_iou_loss(self.coder.decode(pos_deltas, pos_anchors), matched_boxes,
                                           reduction="sum")
        else:
            beta = self.beta if self.box_loss == "smooth_l1" else 0.0
            box = smooth_l1_loss(pos_deltas, self.coder.encode(matched_boxes, pos_anchors), beta, reduction="sum")
        return self.box_weight * box / normalizer

    def state_dict(self) -> dict[str, Any]:
        """What evolves during training (EMAs), for exact resume."""
        return {"normalizer_ema": self.normalizer_ema,
                "ghm_counts": None if self.ghm is None else self.ghm.acc_counts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.normalizer_ema = state["normalizer_ema"]
        if self.ghm is not None:
            self.ghm.acc_counts = state["ghm_counts"]

    def _normalizer(self, num_pos: Tensor) -> Tensor:
        # under DDP, the mean count over processes: gradients are averaged over processes, so each
        # process's sum / (total / world) makes the update the one-process update on the global batch
        current = mean_over_ranks(num_pos.float()).clamp(min=1.0)
        if self.momentum <= 0:
            return current
        value = float(current)
        ema = value if self.normalizer_ema is None else self.momentum * self.normalizer_ema + (
            1 - self.momentum) * value
        self.normalizer_ema = ema
        return current.new_tensor(ema)

    def __call__(self, preds: dict[str, Tensor], targets: dict[str, Tensor]
                 ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """preds: ``cls_logits`` (N, A, K), ``box_deltas`` (N, A, 4), ``anchors`` (A, 4).
        targets (padded): ``boxes`` (N, M, 4), ``labels`` (N, M), ``valid`` (N, M), ``crowd`` (N, M).

        Returns (losses, stats): losses ``loss_cls``, ``loss_box`` (scalars, with grad); stats
        ``num_pos``, ``num_ignored``, ``num_neg`` (N,) per image and ``neg_loss_share`` (scalar), no grad.
        """
        if targets["labels"].shape[1] == 0:  # no box in the whole batch: add one padding slot
            targets = {k: F.pad(v, (0, 0, 0, 1) if v.ndim == 3 else (0, 1)) for k, v in targets.items()
                       if k in ("boxes", "labels", "valid", "crowd")}
        logits = preds["cls_logits"].float()
        deltas = preds["box_deltas"].float()
        anchors = preds["anchors"]
        with torch.no_grad():
            matches = self.matcher(anchors, targets["boxes"], targets["valid"], targets.get("crowd"))
        positive = matches >= 0  # (N, A)
        idx = matches.clamp(min=0)
        matched_labels = targets["labels"].gather(1, idx)  # (N, A)
        cls_targets = F.one_hot(matched_labels, logits.shape[-1]).to(logits.dtype)
        cls_targets = cls_targets * positive[..., None]  # (N, A, K) one-hot for positives only

        num_pos = positive.sum()
        normalizer = self._normalizer(num_pos)
        matched_boxes = targets["boxes"].gather(1, idx[..., None].expand(-1, -1, 4))[positive]  # (P, 4)
        pos_anchors = anchors.expand(len(matches), -1, -1)[positive]  # (P, 4)
        pos_deltas = deltas[positive]
        if self.cls_loss == "qfl":  # soft target: IoU of the (detached) predicted box with its truth
            with torch.no_grad():
                iou = elementwise_iou(self.coder.decode(pos_deltas.detach(), pos_anchors), matched_boxes)
            cls_targets = cls_targets.clone()
            cls_targets[positive] *= iou[:, None]
        loss_cls, per_elem = self._classification(logits, cls_targets, positive, matches != IGNORE, normalizer)

        loss_box = self._box(deltas, pos_deltas, pos_anchors, matched_boxes, normalizer)

        with torch.no_grad():
            neg_mask = (~positive)[..., None].to(logits.dtype)
            total = per_elem.detach().sum().clamp(min=1e-12)
            stats = {
                "num_pos": positive.sum(dim=1),
                "num_ignored": (matches == IGNORE).sum(dim=1),
                "num_neg": (matches == BACKGROUND).sum(dim=1),
                "neg_loss_share": (per_elem.detach() * neg_mask).sum() / total,
            }
        return {"loss_cls": loss_cls, "loss_box": loss_box}, stats


def build_criterion(loss: LossConfig, matcher: MatcherConfig) -> RetinaNetLoss:
    return RetinaNetLoss(
        Matcher(matcher.fg_iou, matcher.bg_iou, matcher.allow_low_quality, matcher.crowd_ioa),
        BoxCoder(loss.box_coder_weights),
        cls_loss=loss.cls, alpha=loss.alpha, gamma=loss.gamma, box_loss=loss.box, beta=loss.beta,
        box_weight=loss.box_weight, normalizer_momentum=loss.normalizer_momentum, ohem_ratio=loss.ohem_ratio,
        ghm_bins=loss.ghm_bins, ghm_momentum=loss.ghm_momentum, qfl_beta=loss.qfl_beta,
    )
