"""Box regression losses, in one table: ``BOX_LOSSES`` maps each ``loss.box`` name to a function
of the P positives, ``(deltas (P, 4), anchors (P, 4), matched boxes (P, 4) xyxy, coder, beta) -> sum``.
``loss.beta`` applies to smooth_l1 only."""

from __future__ import annotations

from typing import Callable

from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

from detector.core.boxes import BoxCoder
from detector.losses.functional import smooth_l1_loss


def _smooth_l1(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return smooth_l1_loss(deltas, coder.encode(boxes, anchors), beta, reduction="sum")


def _l1(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return smooth_l1_loss(deltas, coder.encode(boxes, anchors), 0.0, reduction="sum")


def _giou(deltas: Tensor, anchors: Tensor, boxes: Tensor, coder: BoxCoder, beta: float) -> Tensor:
    return generalized_box_iou_loss(coder.decode(deltas, anchors), boxes, reduction="sum")


BoxLoss = Callable[[Tensor, Tensor, Tensor, BoxCoder, float], Tensor]
BOX_LOSSES: dict[str, BoxLoss] = {"smooth_l1": _smooth_l1, "l1": _l1, "giou": _giou}
