"""Classification losses for dense anchors beyond focal/BCE: the baselines and successors of the
imbalance study. Each works on the whole batch at once, (N, A, K) logits.

- OHEM (the paper's other baseline): plain BCE on the positives and only the hardest negatives,
  at most ``ratio`` negatives per positive in each image.
- GHM-C (Li et al. 2019, "Gradient Harmonized Single-stage Detector"): BCE reweighted by the
  inverse density of the gradient norm g = |sigmoid(x) - y|, so that the mass of easy negatives
  (g ~ 0) and of outliers (g ~ 1) stop dominating.
- Quality focal loss (Li et al. 2020, "Generalized Focal Loss"): the positive's target is the IoU
  of its predicted box with its ground truth (a soft label), and the focusing term is
  |y - sigmoid(x)|^beta, so the score learns localisation quality.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def quality_focal_loss(logits: Tensor, soft_targets: Tensor, beta: float = 2.0) -> Tensor:
    """QFL(x, y) = -|y - s|^beta ((1 - y) log(1 - s) + y log(s)), s = sigmoid(x), elementwise.

    ``soft_targets`` in [0, 1]: the IoU for a positive's own class, 0 everywhere else.
    """
    if logits.shape != soft_targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(soft_targets.shape)} differ in shape")
    ce = F.binary_cross_entropy_with_logits(logits, soft_targets, reduction="none")
    return ce * (soft_targets - torch.sigmoid(logits)).abs().pow(beta)


def ohem_keep(anchor_loss: Tensor, positive: Tensor, negative: Tensor, ratio: float) -> Tensor:
    """Anchors OHEM trains on: all positives plus, per image, the ``ratio * max(P_i, 1)``
    highest-loss negatives. anchor_loss, positive, negative: (N, A) -> (N, A) bool."""
    k = (positive.sum(dim=1).clamp(min=1).float() * ratio).long()  # (N,)
    scores = anchor_loss.detach().masked_fill(~negative, float("-inf"))
    order = scores.argsort(dim=1, descending=True)  # (N, A)
    rank_keep = torch.arange(scores.shape[1], device=scores.device)[None, :] < k[:, None]
    hard = torch.zeros_like(negative).scatter(1, order, rank_keep) & negative
    return positive | hard


class GHMC:
    """GHM-C loss with ``bins`` equal-width bins of the gradient norm over [0, 1].

    The paper's unit-region form: L = (1/N) sum_i beta_i CE_i, beta_i = N / GD(g_i),
    GD(g) = R(g) * M with R(g) the number of elements in g's bin, M = ``bins`` and N the valid
    elements. With ``momentum`` > 0, R is an exponential moving average of the bin counts across
    steps (the paper's EMA variant, started at the first batch's counts).
    """

    def __init__(self, bins: int = 10, momentum: float = 0.75) -> None:
        if bins < 1:
            raise ValueError(f"GHM-C needs at least 1 bin, got {bins}")
        self.bins = bins
        self.momentum = momentum
        self.acc_counts: Tensor | None = None

    def weights(self, logits: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """Per-element beta_i (zero where not ``valid``), no grad."""
        with torch.no_grad():
            g = (torch.sigmoid(logits) - targets).abs()
            index = (g * self.bins).long().clamp(max=self.bins - 1)  # bin of each element
            valid = valid.expand_as(logits)
            total = valid.sum().clamp(min=1).float()
            counts = torch.bincount(index[valid], minlength=self.bins).float()
            if self.momentum > 0:
                if self.acc_counts is None:
                    self.acc_counts = counts
                else:
                    self.acc_counts = self.momentum * self.acc_counts + (1 - self.momentum) * counts
                counts = self.acc_counts
            density = counts * self.bins  # GD(g) for g in each bin
            per_bin = torch.where(counts > 0, total / density.clamp(min=1e-12), torch.zeros_like(counts))
            return per_bin[index] * valid

    def __call__(self, logits: Tensor, targets: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """logits, targets (N, A, K); valid broadcastable bool -> (loss scalar, per-element loss)."""
        w = self.weights(logits, targets, valid)
        per_elem = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * w
        total = valid.expand_as(logits).sum().clamp(min=1).float()
        return per_elem.sum() / total, per_elem
