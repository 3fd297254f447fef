"""Box regression losses, in one table: ``BOX_LOSSES`` maps each ``loss.box`` name to a function
of deltas, anchors and matched boxes, all (..., 4) (boxes xyxy), ``(deltas, anchors, boxes, coder, beta)
-> (...)`` the loss of each anchor. The criterion calls them on every anchor (static shapes) and
keeps the positives' terms. ``loss.beta`` applies to smooth_l1 only. Box losses are pure functions:
they hold no state, so a checkpoint stores nothing of them (``BoxLoss`` is their interface)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from detector.core.boxes import BoxCoder, elementwise_giou
from detector.losses.functional import smooth_l1_loss


def _smooth_l1(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return smooth_l1_loss(deltas, coder.encode(boxes, anchors), beta).sum(-1)


def _l1(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return smooth_l1_loss(deltas, coder.encode(boxes, anchors), 0.0).sum(-1)


def _giou(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return 1 - elementwise_giou(coder.decode(deltas, anchors), boxes)


BoxLoss = Callable[[Tensor, Tensor, Tensor, BoxCoder, float], Tensor]
BOX_LOSSES: dict[str, BoxLoss] = {"smooth_l1": _smooth_l1, "l1": _l1, "giou": _giou}
