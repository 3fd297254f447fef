"""The dicts that travel between layers, typed once here; docstrings elsewhere point to these.

N images, M boxes per image (padded), A anchors over all levels, K classes, D detections.
"""

from __future__ import annotations

from typing import TypedDict

from torch import Tensor


class Sample(TypedDict):
    """One dataset item's target (``CocoDetection.__getitem__``), boxes in model-input pixels."""

    boxes: Tensor  # (M, 4) xyxy
    labels: Tensor  # (M,) int64 in 0..K-1
    crowd: Tensor  # (M,) bool: crowd / difficult boxes, ignored by matching and evaluation
    image_id: int  # the dataset's own id
    orig_size: tuple[int, int]  # (h, w) of the image file
    scale: float  # model-input pixels per original pixel


class Targets(TypedDict):
    """A collated batch's targets (``data.build.collate``), padded to the most boxes per image."""

    boxes: Tensor  # (N, M, 4) xyxy, model-input pixels
    labels: Tensor  # (N, M) int64
    valid: Tensor  # (N, M) bool: False on padding
    crowd: Tensor  # (N, M) bool
    image_id: Tensor  # (N,)
    orig_size: Tensor  # (N, 2) (h, w)
    scale: Tensor  # (N,) float32


class Predictions(TypedDict):
    """``RetinaNet.forward``: the same in training and evaluation."""

    cls_logits: Tensor  # (N, A, K)
    box_deltas: Tensor  # (N, A, 4), BoxCoder offsets from the anchors
    anchors: Tensor  # (A, 4) xyxy in input pixels
    anchors_per_level: list[int]  # how many of A each level P3..P7 holds


class Detections(TypedDict):
    """One image's detections (``PostProcessor``), in original image pixels."""

    boxes: Tensor  # (D, 4) xyxy
    scores: Tensor  # (D,)
    labels: Tensor  # (D,) int64 in 0..K-1
