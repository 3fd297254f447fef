"""Dense anchors for P3..P7, computed once per feature-map size and cached."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from detector.core.config import AnchorConfig

LEVEL_STRIDES = (8, 16, 32, 64, 128)  # P3..P7


def feature_sizes(h: int, w: int, levels: int = len(LEVEL_STRIDES)) -> list[tuple[int, int]]:
    """P3..P7 sizes of the ResNet-FPN for an (h, w) input: every stride-2 step rounds up
    (tests/evaluation/test_coverage.py checks it against the model's own feature maps)."""
    sizes = []
    for step in range(1, 3 + levels):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        if step >= 3:
            sizes.append((h, w))
    return sizes


def level_counts(hw: tuple[int, int] | Sequence[int], cfg: AnchorConfig) -> list[int]:
    """How many anchors each level P3..P7 holds for an input of (h, w): ``anchors_per_level``."""
    return [h * w * cfg.per_location for h, w in feature_sizes(int(hw[0]), int(hw[1]))]


def cell_anchors(size: float, scales: list[float], ratios: list[float], torchvision_compat: bool = False
                 ) -> Tensor:
    """Anchors centred on (0, 0) for one level: (len(ratios) * len(scales), 4) xyxy.

    Ratio is height / width; each anchor keeps the area (size * scale)^2. Order is ratio-major,
    scale-minor, as in torchvision and detectron2, so head outputs line up with theirs.
    ``torchvision_compat`` truncates size * scale to an int and rounds the corners (half to even)
    as torchvision's AnchorGenerator with retinanet_resnet50_fpn's sizes does.
    """
    rows = []
    for ratio in ratios:
        for scale in scales:
            side = float(int(size * scale)) if torchvision_compat else size * scale
            w = side / math.sqrt(ratio)
            h = side * math.sqrt(ratio)
            rows.append([-w / 2, -h / 2, w / 2, h / 2])
    cells = torch.tensor(rows, dtype=torch.float32)
    return cells.round() if torchvision_compat else cells


class AnchorGenerator:
    """Anchors for a list of feature-map sizes, laid out (H, W, A) per level, levels concatenated.

    The anchor at grid cell (y, x) of a level with stride s is centred at (x * s, y * s), the
    convention of torchvision and detectron2 (offset 0). ``torchvision_compat`` takes torchvision's
    strides instead: per axis, the padded input's side // the level's side, which is not the nominal
    64 / 128 at P6 / P7 when the input is no multiple of 128 (an 800-pixel side: 800 // 13 = 61 at
    P6, 800 // 7 = 114 at P7), so its weights' boxes land where torchvision's do at COCO sizes.
    """

    def __init__(self, sizes: list[float], scales: list[float], ratios: list[float],
                 strides: tuple[int, ...] = LEVEL_STRIDES, torchvision_compat: bool = False) -> None:
        if len(sizes) != len(strides):
            raise ValueError(f"need one anchor size per level ({len(strides)}), got {sizes}")
        self.strides = strides
        self.torchvision_compat = torchvision_compat
        self.cells = [cell_anchors(s, scales, ratios, torchvision_compat) for s in sizes]
        self._cache: dict[tuple, Tensor] = {}

    @property
    def num_anchors_per_location(self) -> int:
        return self.cells[0].shape[0]

    def level_strides(self, feature_sizes: list[tuple[int, int]], input_size: tuple[int, int] | None
                      ) -> list[tuple[int, int]]:
        """(stride_y, stride_x) of each level: the nominal strides, or with ``torchvision_compat`` and
        the padded ``input_size`` (H, W) the model's backbone saw, H // H_l and W // W_l."""
        if self.torchvision_compat and input_size is not None:
            return [(input_size[0] // h, input_size[1] // w) for h, w in feature_sizes]
        return [(s, s) for s in self.strides]

    def __call__(self, feature_sizes: list[tuple[int, int]], device: torch.device,
                 input_size: tuple[int, int] | None = None) -> Tensor:
        """[(H_l, W_l)] per level, and the padded input's (H, W) (see ``level_strides``) ->
        (sum_l H_l * W_l * A, 4) float32 xyxy anchors."""
        strides = self.level_strides(feature_sizes, input_size)
        if torch.compiler.is_exporting():  # symbolic sizes (ONNX / torch.export): build in the graph
            return torch.cat([self._grid(cell, stride, hw).to(device) for cell, stride, hw
                              in zip(self.cells, strides, feature_sizes)])
        key = (tuple(feature_sizes), tuple(strides), str(device))
        if key not in self._cache:
            levels = [self._grid(cell, stride, hw) for cell, stride, hw in zip(self.cells, strides, feature_sizes)]
            self._cache[key] = torch.cat(levels).to(device)
        return self._cache[key]

    @staticmethod
    def _grid(cell: Tensor, stride: tuple[int, int], hw: tuple[int, int]) -> Tensor:
        h, w = hw
        ys = torch.arange(h, dtype=torch.float32) * stride[0]
        xs = torch.arange(w, dtype=torch.float32) * stride[1]
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
        return (shifts + cell[None]).reshape(-1, 4)


def build_anchor_generator(cfg: AnchorConfig) -> AnchorGenerator:
    """The one builder of the anchor generator from config (model, coverage, scripts)."""
    return AnchorGenerator(cfg.sizes, cfg.scales, cfg.ratios, torchvision_compat=cfg.torchvision_compat)
