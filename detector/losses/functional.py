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


def _negative(x: Tensor, alpha: float, gamma: float) -> Tensor:
    """Focal loss of logits ``x`` whose target is 0: (1 - alpha) p^gamma softplus(x), p = sigmoid(x)."""
    p = torch.sigmoid(x)
    out = F.softplus(x)
    if gamma != 0:
        out.mul_(p.pow_(gamma))
    return out.mul_(1 - alpha) if alpha >= 0 else out


def _positive(x: Tensor, alpha: float, gamma: float) -> Tensor:
    """Focal loss of logits ``x`` whose target is 1: alpha (1 - p)^gamma softplus(-x)."""
    out = F.softplus(-x)
    if gamma != 0:
        out.mul_(torch.sigmoid(-x).pow_(gamma))
    return out.mul_(alpha) if alpha >= 0 else out


def _negative_grad(x: Tensor, alpha: float, gamma: float) -> Tensor:
    """d/dx of ``_negative``: (1 - alpha) p^gamma (p + gamma (1 - p) softplus(x))."""
    p = torch.sigmoid(x)
    out = F.softplus(x).mul_(gamma).mul_(torch.sigmoid(-x)).add_(p) if gamma != 0 else p.clone()
    if gamma != 0:
        out.mul_(p.pow_(gamma))
    return out.mul_(1 - alpha) if alpha >= 0 else out


def _positive_grad(x: Tensor, alpha: float, gamma: float) -> Tensor:
    """d/dx of ``_positive``: -alpha (1 - p)^gamma ((1 - p) + gamma p softplus(-x))."""
    q = torch.sigmoid(-x)  # 1 - p
    out = F.softplus(-x).mul_(gamma).mul_(torch.sigmoid(x)).add_(q) if gamma != 0 else q.clone()
    if gamma != 0:
        out.mul_(q.pow_(gamma))
    return out.mul_(-alpha if alpha >= 0 else -1.0)


CHUNK = 1 << 20  # elements per block of the elementwise chain: 4 MiB per float32 temporary


def _blocks(flat: Tensor) -> list[Tensor]:
    """Row blocks of a (rows, K) tensor of about ``CHUNK`` elements each (one block when small)."""
    return list(flat.split(max(1, CHUNK // max(flat.shape[-1], 1))))


class _FocalFromLabels(torch.autograd.Function):
    """Sigmoid focal loss from integer labels, summed per anchor. Saves only its inputs and runs
    the elementwise chain in blocks of ``CHUNK`` elements, so neither the (N, A, K) one-hot target
    nor the (N, A, K) intermediates autograd would keep are ever held: the peak is the gradient
    plus one block's temporaries."""

    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, weight: Tensor, class_weight: Tensor | None, alpha: float,
                gamma: float) -> Tensor:
        ctx.save_for_backward(logits, labels, weight, class_weight)
        ctx.alpha, ctx.gamma = alpha, gamma
        positive = labels >= 0
        x = logits.gather(-1, labels.clamp(min=0)[..., None])[..., 0]  # (N, A): each anchor's own class
        pos = _positive(x, alpha, gamma)
        if class_weight is not None:
            pos = pos * class_weight[labels.clamp(min=0)]
        fix = torch.where(positive, pos - _negative(x, alpha, gamma), 0.0)
        flat = logits.reshape(-1, logits.shape[-1])
        per_anchor = torch.cat([_negative(block, alpha, gamma).sum(-1) for block in _blocks(flat)])
        return (per_anchor.view_as(labels) + fix) * weight

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        logits, labels, weight, class_weight = ctx.saved_tensors
        alpha, gamma = ctx.alpha, ctx.gamma
        scale = (grad * weight).reshape(-1, 1)  # (N * A, 1)
        out = torch.empty_like(logits)
        flat_out, start = out.view(-1, logits.shape[-1]), 0
        for block in _blocks(logits.reshape(-1, logits.shape[-1])):
            rows = slice(start, start + len(block))
            torch.mul(_negative_grad(block, alpha, gamma), scale[rows], out=flat_out[rows])
            start += len(block)
        positive = labels >= 0
        index = labels.clamp(min=0)[..., None]
        x = logits.gather(-1, index)[..., 0]
        pos = _positive_grad(x, alpha, gamma)
        if class_weight is not None:
            pos = pos * class_weight[index[..., 0]]
        fix = torch.where(positive, pos - _negative_grad(x, alpha, gamma), 0.0)
        out.scatter_add_(-1, index, (fix * scale.view_as(fix))[..., None])
        return out, None, None, None, None, None


def focal_loss_from_labels(logits: Tensor, labels: Tensor, weight: Tensor, alpha: float = 0.25,
                           gamma: float = 2.0, class_weight: Tensor | None = None) -> Tensor:
    """Sigmoid focal loss summed over classes, per anchor, without a one-hot target.

    logits (N, A, K); labels (N, A) int64, the class of a positive anchor and -1 elsewhere; weight
    (N, A), 0 for ignored anchors; class_weight (K,) or None: a factor on the positive term of each
    class (per-class alpha) -> (N, A). Equals ``sigmoid_focal_loss(logits, one_hot).sum(-1) * weight``
    (``alpha < 0``: no alpha weighting; ``gamma = 0``: BCE) in value and gradient.
    """
    if logits.shape[:2] != labels.shape or labels.shape != weight.shape:
        raise ValueError(f"logits {tuple(logits.shape)}, labels {tuple(labels.shape)} and weight "
                         f"{tuple(weight.shape)} do not agree on (N, A)")
    if class_weight is not None:
        if class_weight.shape != logits.shape[-1:]:
            raise ValueError(f"class_weight {tuple(class_weight.shape)} needs one value per class ({logits.shape[-1]})")
        class_weight = class_weight.to(logits)
    # contiguous: the blocked backward writes its gradient through views of a (N * A, K) buffer
    return _FocalFromLabels.apply(logits.contiguous(), labels, weight.to(logits.dtype), class_weight, alpha, gamma)


def inverse_frequency_weights(counts: list[int]) -> list[float]:
    """Per-class factors w_k = 1 / (K f_k) from the training boxes per class (f_k = count_k / total):
    rarer classes weigh more, and the frequency-weighted mean sum_k f_k w_k is 1, so the positives'
    total weight is unchanged, only shared out by inverse frequency. A class with no box gets 1."""
    total, k = sum(counts), len(counts)
    return [total / (k * c) if c else 1.0 for c in counts]
