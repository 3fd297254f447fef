"""The RetinaNet criterion: match anchors to ground truth for the whole batch, then one
classification loss (``classification.CLASSIFICATION_LOSSES``) and one box loss (``box.BOX_LOSSES``)."""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from detector.core.boxes import BACKGROUND, IGNORE, AnchorMatcher, BoxCoder, build_matcher, elementwise_iou
from detector.core.config import AnchorConfig, ConfigError, LossConfig, MatcherConfig
from detector.core.distributed import mean_over_ranks
from detector.core.structures import Predictions, Targets
from detector.losses.box import BOX_LOSSES
from detector.losses.classification import CLASSIFICATION_LOSSES, ClassificationLoss, FocalLoss
from detector.losses.functional import inverse_frequency_weights

# the loss.* fields that belong to one classification loss each (the constructor keywords)
CLASSIFICATION_FIELDS = ("alpha", "gamma", "class_alpha", "ohem_ratio", "efl_scale", "ghm_bins", "ghm_momentum",
                         "qfl_beta")


def classification_loss(name: str, **params: Any) -> Any:
    """The loss ``name`` of ``CLASSIFICATION_LOSSES`` with ``params``; a parameter it does not
    take is an error naming the ones it does."""
    if name not in CLASSIFICATION_LOSSES:
        raise ConfigError(f"loss.cls '{name}' is not one of {sorted(CLASSIFICATION_LOSSES)}")
    cls = CLASSIFICATION_LOSSES[name]
    takes = list(inspect.signature(cls).parameters)
    extra = sorted(set(params) - set(takes))
    if extra:
        raise ConfigError(f"loss.cls={name} does not use {', '.join(f'loss.{k}' for k in extra)} "
                          f"(it takes {', '.join(f'loss.{k}' for k in takes) or 'no parameters'})")
    return cls(**params)


def match_labels(matcher: AnchorMatcher, anchors: Tensor, targets: Targets, anchors_per_level: list[int] | None
                 ) -> tuple[Tensor, Tensor]:
    """(matches (N, A): box index or BACKGROUND / IGNORE, labels (N, A): the matched box's class,
    meaningful where matches >= 0) for a padded batch; shared by the criterion and the imbalance
    instruments. ``anchors_per_level``: ``Predictions["anchors_per_level"]`` (ATSS picks per level)."""
    matches = matcher(anchors, targets["boxes"], targets["valid"], targets.get("crowd"), anchors_per_level)
    return matches, targets["labels"].gather(1, matches.clamp(min=0))


class RetinaNetLoss:
    """Matches anchors to ground truth and returns ``{"loss_cls", "loss_box"}`` plus statistics.

    Both terms are sums over anchors divided by the number of positive anchors in the batch
    (at least 1): with ~10^4-10^5 anchors per image, a per-anchor mean would let the easy
    background dominate, while the positive count tracks how much real signal the batch carries.
    """

    def __init__(self, matcher: AnchorMatcher, coder: BoxCoder, classification: ClassificationLoss | None = None,
                 box_loss: str = "smooth_l1",
                 beta: float = 0.1, box_weight: float = 1.0, normalizer_momentum: float = 0.0) -> None:
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be one of {sorted(BOX_LOSSES)}, got '{box_loss}'")
        self.matcher = matcher
        self.coder = coder
        self.classification = classification if classification is not None else FocalLoss()
        self.box_loss = box_loss
        self.beta = beta
        self.box_weight = box_weight
        self.momentum = normalizer_momentum
        self.normalizer_ema: Tensor | None = None  # () on the device while training
        self._ema_before: Tensor | None = None  # the EMA before the last call (``rollback``)

    def state_dict(self) -> dict[str, Any]:
        """What evolves during training (EMAs), for exact resume: tensors as they are, so a resumed
        run continues from the same bits."""
        ema = self.normalizer_ema
        return {"normalizer_ema": None if ema is None else ema.detach().cpu(), **self.classification.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ema = state["normalizer_ema"]  # a float in checkpoints written before it was kept as a tensor
        self.normalizer_ema = None if ema is None else torch.as_tensor(ema, dtype=torch.float32)
        self._ema_before = None
        self.classification.load_state_dict(state)

    def rollback(self, skip: Tensor) -> None:
        """A step whose update was skipped (``skip``, a () tensor, nonzero) leaves every piece of the
        criterion's state as before its call: the normaliser's EMA and the classification loss's
        (``ClassificationLoss.rollback``); decided on the device, no host synchronisation."""
        if self._ema_before is not None and self.normalizer_ema is not None:
            self.normalizer_ema = torch.where(skip.to(torch.bool), self._ema_before, self.normalizer_ema)
        self._ema_before = None
        self.classification.rollback(skip)

    def _normalizer(self, num_pos: Tensor) -> Tensor:
        # under DDP, the mean count over processes: gradients are averaged over processes, so each
        # process's sum / (total / world) makes the update the one-process update on the global batch
        current = mean_over_ranks(num_pos.float()).clamp(min=1.0)
        if self.momentum <= 0:
            return current
        previous = self.normalizer_ema  # kept on the device: reading it would synchronise every step
        if previous is not None and previous.device != current.device:  # restored from a checkpoint
            previous = previous.to(current.device)
        ema = current if previous is None else self.momentum * previous + (1 - self.momentum) * current
        self._ema_before, self.normalizer_ema = (current if previous is None else previous), ema
        return ema

    def __call__(self, preds: Predictions, targets: Targets) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``preds`` and padded ``targets`` as in ``core.structures``.

        Returns (losses, stats): losses ``loss_cls``, ``loss_box`` (scalars, with grad); stats
        ``num_pos``, ``num_ignored``, ``num_neg`` (N,) per image and ``neg_loss_share`` (scalar), no grad.
        """
        if targets["labels"].shape[1] == 0:  # no box in the whole batch: add one padding slot
            padded = {k: F.pad(v, (0, 0, 0, 1) if v.ndim == 3 else (0, 1))
                      for k, v in cast(dict[str, Tensor], targets).items()
                      if k in ("boxes", "labels", "valid", "crowd")}
            targets = cast(Targets, padded)
        logits = preds["cls_logits"].float()
        deltas = preds["box_deltas"].float()
        anchors = preds["anchors"]
        with torch.no_grad():
            # (N, A) each
            matches, matched_labels = match_labels(self.matcher, anchors, targets, preds.get("anchors_per_level"))
        positive = matches >= 0  # (N, A)
        idx = matches.clamp(min=0)
        labels = matched_labels.masked_fill(~positive, -1)  # (N, A): the class of a positive, -1 elsewhere

        normalizer = self._normalizer(positive.sum())
        # every anchor keeps its place (static shapes, no host synchronisation): a non-positive is
        # given its own anchor as the box, a finite target whose terms are then dropped
        all_anchors = anchors.expand(len(matches), -1, -1)  # (N, A, 4)
        matched_boxes = targets["boxes"].gather(1, idx[..., None].expand(-1, -1, 4))
        matched_boxes = torch.where(positive[..., None], matched_boxes, all_anchors)  # (N, A, 4)
        cls_targets = None  # dense (N, A, K) targets only for the losses that need them (QFL, GHM-C)
        if self.classification.needs_targets:
            value = positive.to(logits.dtype)  # 1 at a positive's class (scattered: F.one_hot reads its input)
            if self.classification.needs_quality:  # soft target: IoU of the (detached) predicted box with its truth
                with torch.no_grad():
                    value = value * elementwise_iou(self.coder.decode(deltas.detach(), all_anchors), matched_boxes)
            cls_targets = torch.zeros_like(logits).scatter_(-1, labels.clamp(min=0)[..., None], value[..., None])
        loss_cls, per_anchor = self.classification(logits, labels, cls_targets, positive, matches != IGNORE,
                                                   normalizer)
        box = BOX_LOSSES[self.box_loss](deltas, all_anchors, matched_boxes, self.coder, self.beta)  # (N, A)
        loss_box = self.box_weight * torch.where(positive, box, 0.0).sum() / normalizer

        with torch.no_grad():
            per_anchor = per_anchor.detach()
            total = per_anchor.sum().clamp(min=1e-12)
            stats = {
                "num_pos": positive.sum(dim=1),
                "num_ignored": (matches == IGNORE).sum(dim=1),
                "num_neg": (matches == BACKGROUND).sum(dim=1),
                "neg_loss_share": (per_anchor * ~positive).sum() / total,
            }
        return {"loss_cls": loss_cls, "loss_box": loss_box}, stats


def classification_params(loss: LossConfig, class_counts: list[int] | None = None,
                          written: Collection[str] = ()) -> dict[str, Any]:
    """The keyword arguments of ``loss.cls`` from ``loss``; a classification parameter it does not use
    (``loss.gamma`` with ``loss.cls=bce``) must keep its default and must not be among the keys the
    user ``written`` (``core.config.written_keys``), otherwise a ConfigError:
    ``loss.ohem_ratio=3`` with focal loss means another run than the one that would start.
    ``loss.class_alpha=inverse_frequency`` becomes per-class factors from ``class_counts`` (training
    boxes per class; None: only checked)."""
    defaults = LossConfig()
    takes = set(inspect.signature(CLASSIFICATION_LOSSES.get(loss.cls, FocalLoss)).parameters)
    changed = [f for f in CLASSIFICATION_FIELDS
               if f not in takes and (getattr(loss, f) != getattr(defaults, f) or f"loss.{f}" in written)]
    if changed and loss.cls in CLASSIFICATION_LOSSES:
        unused = ", ".join(f"loss.{f}={getattr(loss, f)}" for f in changed)
        raise ConfigError(f"loss.cls={loss.cls} does not use {unused}"
                          f" (it takes {', '.join(f'loss.{k}' for k in sorted(takes)) or 'no parameters'})")
    params = {f: getattr(loss, f) for f in CLASSIFICATION_FIELDS if f in takes}
    if "class_alpha" in params:
        wanted = params.pop("class_alpha") == "inverse_frequency"
        if wanted and class_counts is not None:
            params["class_alpha"] = inverse_frequency_weights(class_counts)
    return params


def build_criterion(loss: LossConfig, matcher: MatcherConfig, class_counts: list[int] | None = None,
                    anchors: AnchorConfig | None = None) -> RetinaNetLoss:
    """The criterion of ``loss`` and ``matcher`` (``classification_params``); ``class_counts``, the
    training boxes per class, for ``loss.class_alpha=inverse_frequency``; ``anchors`` (None: the
    defaults), whose anchors per position ``matcher.name=atss`` counts in."""
    params = classification_params(loss, class_counts)
    if loss.class_alpha != "none" and class_counts is None:
        raise ValueError("loss.class_alpha=inverse_frequency needs the training set's boxes per class")
    per_location = (anchors or AnchorConfig()).per_location
    return RetinaNetLoss(build_matcher(matcher, per_location), BoxCoder(loss.box_coder_weights),
                         classification_loss(loss.cls, **params), loss.box, loss.beta, loss.box_weight,
                         loss.normalizer_momentum)
