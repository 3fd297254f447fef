"""Classification losses over dense anchors, in one table: ``CLASSIFICATION_LOSSES`` maps each
``loss.cls`` name to its class, whose keyword arguments are exactly the ``loss.*`` config fields
it uses. Adding a loss is one class, one table entry, and its test.

Every loss is called on the whole batch, ``(logits, labels, targets, positive, valid, normalizer)``
with logits (N, A, K), labels (N, A) (a positive's class, -1 elsewhere), positive / valid (N, A)
bool (valid = not ignored) and, only for the losses with ``needs_targets``, dense targets
(N, A, K); it returns (loss scalar, the per-anchor loss (N, A) that entered it, for the imbalance
statistics). Focal, BCE, balanced CE and OHEM work from the integer labels
(``functional.focal_loss_from_labels``): no (N, A, K) target is ever built for them.

- focal: alpha-balanced focal loss (Lin et al. 2017); bce: the plain baseline; balanced_ce: alpha only.
  Both alpha losses take ``loss.class_alpha=inverse_frequency``: the positives of class k weigh
  alpha * w_k, w_k = 1 / (K f_k) from the training set's box frequencies f_k.
- ohem (the paper's other baseline): BCE on the positives and only the hardest negatives, at most
  ``ohem_ratio`` negatives per positive in each image.
- ghm (Li et al. 2019, "Gradient Harmonized Single-stage Detector"): BCE reweighted by the inverse
  density of the gradient norm g = |sigmoid(x) - y|, so the mass of easy negatives (g ~ 0) and of
  outliers (g ~ 1) stop dominating; normalised by the valid elements, not the positives.
- efl (Li et al. 2022, "Equalized Focal Loss"): a long-tail remedy, focal loss whose gamma and weight
  grow for the classes whose positives get little gradient (``EqualizedFocalLoss``).
- qfl (Li et al. 2020, "Generalized Focal Loss"): the positive's target is the IoU of its predicted
  box with its ground truth (``needs_quality``: the criterion supplies it), the focusing term
  |y - sigmoid(x)|^beta, so the score learns localisation quality.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from detector.core.distributed import sum_over_ranks
from detector.losses.functional import focal_loss_from_labels, ohem_keep, quality_focal_loss


class ClassificationLoss(ABC):
    """What the criterion (``criterion.RetinaNetLoss``) calls on a classification loss, and what a
    checkpoint stores of it. Every entry of ``CLASSIFICATION_LOSSES`` is one of these.

    - ``needs_targets``: the criterion passes dense (N, A, K) float targets (else None: the loss works
      from the integer ``labels``); ``needs_quality``: a positive's target is the IoU of its predicted
      box with its ground truth instead of 1.
    - ``__call__(logits (N, A, K), labels (N, A) (class of a positive, -1 elsewhere), targets
      (N, A, K) or None, positive (N, A) bool, valid (N, A) bool (not ignored), normalizer (scalar
      tensor)) -> (loss scalar, per-anchor loss (N, A))``, with no host synchronisation.
    - ``state_dict()`` / ``load_state_dict(state)``: whatever the loss accumulates across steps (GHM's
      histogram, EFL's gradient statistics) or was given at the start (the per-class alpha), as plain
      data (lists, numbers, None, tensors) that ``torch.load(weights_only=True)`` reads back; ``{}``
      for a stateless loss. ``--resume`` restores it exactly.
    - ``rollback(skip)``: a loss that accumulates state undoes what its last call (and that call's
      backward) added where ``skip`` (a () tensor, nonzero when the step's update was not applied) is
      set, on the device: a non-finite step the trainer skips leaves the state as it was, with no
      host synchronisation. Each call remembers the state it started from for this.
    """

    needs_targets: ClassVar[bool] = False
    needs_quality: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, logits: Tensor, labels: Tensor, targets: Tensor | None, positive: Tensor, valid: Tensor,
                 normalizer: Tensor) -> tuple[Tensor, Tensor]:
        """(loss scalar, per-anchor loss (N, A)); see the class docstring."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (the criterion passes its whole state: ignore other keys)."""
        return None  # a stateless loss has nothing to restore

    def rollback(self, skip: Tensor) -> None:
        """Undo the last call's state change where ``skip`` is set (see the class docstring)."""
        return None  # nothing accumulates


class FocalLoss(ClassificationLoss):
    """Sum over the valid anchors of the focal loss, divided by the positive-count normaliser."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, class_alpha: list[float] | None = None) -> None:
        self.alpha, self.gamma = alpha, gamma
        # per-class factors on the positives' alpha (``loss.class_alpha``), resolved by the criterion builder
        self.class_weight = torch.tensor(class_alpha, dtype=torch.float32) if class_alpha else None

    def keep(self, per_anchor: Tensor, positive: Tensor, valid: Tensor) -> Tensor | None:
        """(N, A) bool: the anchors that count (beyond ``valid``); None for all valid ones."""
        return None

    def __call__(self, logits: Tensor, labels: Tensor, targets: Tensor | None, positive: Tensor, valid: Tensor,
                 normalizer: Tensor) -> tuple[Tensor, Tensor]:
        per_anchor = focal_loss_from_labels(logits, labels, valid, self.alpha, self.gamma, self.class_weight)
        keep = self.keep(per_anchor, positive, valid)
        if keep is not None:
            per_anchor = per_anchor * keep.to(per_anchor.dtype)
        return per_anchor.sum() / normalizer, per_anchor

    def state_dict(self) -> dict[str, Any]:
        return {} if self.class_weight is None else {"class_alpha": self.class_weight.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("class_alpha") is not None:  # the factors the run started with, not recomputed
            self.class_weight = torch.tensor(state["class_alpha"], dtype=torch.float32)


class BCELoss(FocalLoss):
    def __init__(self) -> None:
        super().__init__(alpha=-1.0, gamma=0.0)


class BalancedCELoss(FocalLoss):
    def __init__(self, alpha: float = 0.25, class_alpha: list[float] | None = None) -> None:
        super().__init__(alpha=alpha, gamma=0.0, class_alpha=class_alpha)


class OHEMLoss(BCELoss):
    def __init__(self, ohem_ratio: float = 3.0) -> None:
        super().__init__()
        self.ratio = ohem_ratio

    def keep(self, per_anchor: Tensor, positive: Tensor, valid: Tensor) -> Tensor:
        return ohem_keep(per_anchor, positive, valid & ~positive, self.ratio)


class QualityFocalLoss(ClassificationLoss):
    """QFL: BCE against a soft target (the positive's box IoU) with the focusing term |y - sigmoid(x)|^beta."""

    needs_targets = True
    needs_quality = True

    def __init__(self, qfl_beta: float = 2.0) -> None:
        self.beta = qfl_beta

    def __call__(self, logits: Tensor, labels: Tensor, targets: Tensor | None, positive: Tensor, valid: Tensor,
                 normalizer: Tensor) -> tuple[Tensor, Tensor]:
        assert targets is not None, "QFL needs dense targets (needs_targets)"
        per_elem = quality_focal_loss(logits, targets, self.beta) * valid[..., None].to(logits.dtype)
        return per_elem.sum() / normalizer, per_elem.sum(-1)


class GHMC(ClassificationLoss):
    """GHM-C loss with ``ghm_bins`` equal-width bins of the gradient norm over [0, 1].

    The paper's unit-region form: L = (1/N) sum_i beta_i CE_i, beta_i = N / GD(g_i),
    GD(g) = R(g) * M with R(g) the number of elements in g's bin, M = ``bins`` and N the valid
    elements. With ``ghm_momentum`` > 0, R is an exponential moving average of the bin counts across
    steps (the paper's EMA variant, started at the first batch's counts). A non-finite g (a NaN
    logit) is counted in bin 0: its loss term stays NaN, so the step is non-finite and rolled back.
    """

    needs_targets = True

    def __init__(self, ghm_bins: int = 10, ghm_momentum: float = 0.75) -> None:
        if ghm_bins < 1:
            raise ValueError(f"GHM-C needs at least 1 bin, got {ghm_bins}")
        self.bins = ghm_bins
        self.momentum = ghm_momentum
        self.acc_counts: Tensor | None = None  # (bins,) the EMA of the counts; meaningful once started
        self.started: Tensor | None = None  # () bool: the EMA holds a batch's counts
        self._before: tuple[Tensor, Tensor] | None = None  # (acc_counts, started) before the last call

    def weights(self, logits: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """Per-element beta_i (zero where not ``valid``), no grad."""
        with torch.no_grad():
            g = (torch.sigmoid(logits) - targets).abs().nan_to_num(nan=0.0)
            # bin of each element, clamped both ways: an out-of-range index is a device assert on CUDA
            index = (g * self.bins).long().clamp(0, self.bins - 1)
            valid = valid.expand_as(logits)
            total = valid.sum().clamp(min=1).float()
            # counted by scatter, not bincount of the valid elements: static shapes, no host sync
            counts = logits.new_zeros(self.bins).scatter_add_(0, index.flatten(), valid.flatten().to(logits.dtype))
            if self.momentum > 0:
                counts = self._accumulate(counts)
            density = counts * self.bins  # GD(g) for g in each bin
            per_bin = torch.where(counts > 0, total / density.clamp(min=1e-12), torch.zeros_like(counts))
            return per_bin[index] * valid

    def _accumulate(self, counts: Tensor) -> Tensor:
        """The EMA of the bin counts with this batch's (bins,) ``counts``; remembers the state before."""
        if self.acc_counts is None or self.started is None:
            self.acc_counts, self.started = torch.zeros_like(counts), torch.zeros((), dtype=torch.bool,
                                                                                  device=counts.device)
        elif self.acc_counts.device != counts.device:  # restored from a checkpoint on the CPU
            self.acc_counts, self.started = self.acc_counts.to(counts.device), self.started.to(counts.device)
        self._before = (self.acc_counts, self.started)
        ema = self.momentum * self.acc_counts + (1 - self.momentum) * counts
        self.acc_counts = torch.where(self.started, ema, counts)
        self.started = torch.ones_like(self.started)
        return self.acc_counts

    def rollback(self, skip: Tensor) -> None:
        if self._before is None or self.acc_counts is None or self.started is None:
            return
        undo = skip.to(torch.bool)
        self.acc_counts = torch.where(undo, self._before[0], self.acc_counts)
        self.started = torch.where(undo, self._before[1], self.started)
        self._before = None

    def loss(self, logits: Tensor, targets: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """logits, targets (N, A, K); valid broadcastable bool -> (loss scalar, per-element loss)."""
        w = self.weights(logits, targets, valid)
        per_elem = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * w
        total = valid.expand_as(logits).sum().clamp(min=1).float()
        return per_elem.sum() / total, per_elem

    def __call__(self, logits: Tensor, labels: Tensor, targets: Tensor | None, positive: Tensor, valid: Tensor,
                 normalizer: Tensor) -> tuple[Tensor, Tensor]:
        assert targets is not None, "GHM-C needs dense targets (needs_targets)"
        loss, per_elem = self.loss(logits, targets, valid[..., None])
        return loss, per_elem.sum(-1)

    def state_dict(self) -> dict[str, Any]:
        if self.acc_counts is None or self.started is None or not bool(self.started):
            return {"ghm_counts": None}
        return {"ghm_counts": self.acc_counts.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        counts = state.get("ghm_counts")
        self.acc_counts = None if counts is None else torch.as_tensor(counts, dtype=torch.float32)
        self.started = None if counts is None else torch.ones((), dtype=torch.bool)
        self._before = None


class _GradientTap(torch.autograd.Function):
    """Identity whose backward adds |grad| on positive and on negative elements, per class and
    summed over processes, into ``stats`` (2, K): EFL's gradient statistics, without a hook."""

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, weight: Tensor, stats: Tensor) -> Tensor:
        ctx.save_for_backward(targets, weight, stats)
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        targets, weight, stats = ctx.saved_tensors
        magnitude = grad.abs() * weight
        step = torch.stack([(magnitude * targets).sum((0, 1)), (magnitude * (1 - targets)).sum((0, 1))])
        stats.add_(sum_over_ranks(step))
        return grad, None, None, None


class EqualizedFocalLoss(ClassificationLoss):
    """EFL (Li et al. 2022, "Equalized Focal Loss for Dense Long-Tailed Object Detection"): class j's
    elements get the focusing exponent gamma_j = gamma + efl_scale * (1 - g_j) and the weight
    gamma_j / gamma, where g_j in [0, 1] is the accumulated gradient magnitude on class j's positive
    elements over that on its negatives (clamped). A rare class, whose few positives receive little
    gradient against its flood of negatives, gets a larger gamma_j and weight; a frequent one stays
    near plain focal loss (g_j starts at 1: the first step is exactly focal loss). The magnitudes are
    collected from the logits' gradient on the way back (``_GradientTap``) and summed over processes.
    """

    needs_targets = True

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, efl_scale: float = 8.0) -> None:
        if gamma <= 0:
            raise ValueError(f"EFL needs gamma > 0 (its weight is gamma_j / gamma), got {gamma}")
        self.alpha, self.gamma, self.scale = alpha, gamma, efl_scale
        self.grads: Tensor | None = None  # (2, K): accumulated |grad| on positive / negative elements
        self._before: Tensor | None = None  # a copy of ``grads`` before the last call's backward added to it

    def class_gamma(self, num_classes: int, device: torch.device) -> Tensor:
        """(K,) gamma_j from the gradient statistics so far."""
        if self.grads is None:
            self.grads = torch.zeros(2, num_classes, device=device)
        elif self.grads.device != device:  # restored from a checkpoint on the CPU
            self.grads = self.grads.to(device)
        ratio = torch.where(self.grads[1] > 0, self.grads[0] / self.grads[1].clamp(min=1e-10), 1.0).clamp(0, 1)
        return self.gamma + self.scale * (1 - ratio)

    def __call__(self, logits: Tensor, labels: Tensor, targets: Tensor | None, positive: Tensor, valid: Tensor,
                 normalizer: Tensor) -> tuple[Tensor, Tensor]:
        assert targets is not None, "EFL needs dense targets (needs_targets)"
        gamma = self.class_gamma(logits.shape[-1], logits.device)  # (K,); makes self.grads
        weight = valid[..., None].to(logits.dtype)
        if logits.requires_grad:  # the gradient statistics are collected on the way back
            assert self.grads is not None
            self._before = self.grads.clone()
            logits = _GradientTap.apply(logits, targets, weight, self.grads)
        p_t = torch.where(targets > 0, torch.sigmoid(logits), torch.sigmoid(-logits))
        alpha_t = torch.where(targets > 0, self.alpha, 1 - self.alpha) if self.alpha >= 0 else 1.0
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        per_elem = alpha_t * (gamma / self.gamma) * (1 - p_t).pow(gamma) * ce * weight
        return per_elem.sum() / normalizer, per_elem.sum(-1)

    def rollback(self, skip: Tensor) -> None:
        if self._before is None or self.grads is None:
            return
        # in place: the tap of a graph not yet run back would otherwise add to a stale tensor
        self.grads.copy_(torch.where(skip.to(torch.bool), self._before, self.grads))
        self._before = None

    def state_dict(self) -> dict[str, Any]:
        return {"efl_grads": None if self.grads is None else self.grads.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        grads = state.get("efl_grads")
        self.grads = None if grads is None else torch.tensor(grads, dtype=torch.float32)
        self._before = None


# loss.cls -> class; its constructor's keywords are the loss.* fields it uses
CLASSIFICATION_LOSSES: dict[str, type[ClassificationLoss]] = {
    "focal": FocalLoss,
    "bce": BCELoss,
    "balanced_ce": BalancedCELoss,
    "ohem": OHEMLoss,
    "ghm": GHMC,
    "qfl": QualityFocalLoss,
    "efl": EqualizedFocalLoss,
}
