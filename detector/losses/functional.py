"""Pure, elementwise loss functions with a ``reduction`` argument (as torchvision.ops)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reduce(loss: Tensor, reduction: str) -> Tensor:
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
    return reduce(loss, reduction)


def quality_focal_loss(logits: Tensor, soft_targets: Tensor, beta: float = 2.0) -> Tensor:
    """QFL(x, y) = -|y - s|^beta ((1 - y) log(1 - s) + y log(s)), s = sigmoid(x), elementwise.

    ``soft_targets`` in [0, 1]: the IoU for a positive's own class, 0 everywhere else.
    """
    if logits.shape != soft_targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(soft_targets.shape)} differ in shape")
    ce = F.binary_cross_entropy_with_logits(logits, soft_targets, reduction="none")
    return ce * (soft_targets - torch.sigmoid(logits)).abs().pow(beta)


def smooth_l1_loss(pred: Tensor, target: Tensor, beta: float, reduction: str = "none") -> Tensor:
    """Huber-style loss, quadratic below ``beta`` and linear above; ``beta = 0`` is plain L1."""
    if beta <= 0:
        return reduce((pred - target).abs(), reduction)
    return reduce(F.smooth_l1_loss(pred, target, beta=beta, reduction="none"), reduction)


def ohem_keep(anchor_loss: Tensor, positive: Tensor, negative: Tensor, ratio: float) -> Tensor:
    """Anchors OHEM trains on: all positives plus, per image, the ``ratio * max(P_i, 1)``
    highest-loss negatives. anchor_loss, positive, negative: (N, A) -> (N, A) bool."""
    k = (positive.sum(dim=1).clamp(min=1).float() * ratio).long()  # (N,)
    scores = anchor_loss.detach().masked_fill(~negative, float("-inf"))
    order = scores.argsort(dim=1, descending=True)  # (N, A)
    rank_keep = torch.arange(scores.shape[1], device=scores.device)[None, :] < k[:, None]
    hard = torch.zeros_like(negative).scatter(1, order, rank_keep) & negative
    return positive | hard
