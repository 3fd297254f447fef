"""Classification and box subnets, shared across pyramid levels (they share no parameters)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def prior_bias(prior_prob: float) -> float:
    """Bias that makes every anchor start at foreground probability ``prior_prob``.

    With ~10^5 anchors almost all background, a 0.5 start makes the background loss swamp the
    first updates and training diverges; starting at pi = 0.01 keeps it stable (paper, Sec. 4.1).
    ``prior_prob = 0`` means "no prior" (bias 0, probability 0.5), to reproduce that divergence.
    """
    if prior_prob <= 0:
        return 0.0
    return -math.log((1 - prior_prob) / prior_prob)


class Subnet(nn.Module):
    """``num_convs`` x (3x3 conv, optional GroupNorm, ReLU), then a 3x3 conv to A * out_per_anchor."""

    def __init__(self, channels: int, num_anchors: int, out_per_anchor: int, num_convs: int,
                 norm: str = "none", bias_init: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(channels, channels, 3, padding=1))
            if norm == "gn":
                layers.append(nn.GroupNorm(min(32, channels), channels))
            layers.append(nn.ReLU(inplace=True))
        self.tower = nn.Sequential(*layers)
        self.out = nn.Conv2d(channels, num_anchors * out_per_anchor, 3, padding=1)
        self.out_per_anchor = out_per_anchor
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.out.bias is not None:
            nn.init.constant_(self.out.bias, bias_init)

    def forward(self, features: list[Tensor]) -> Tensor:
        """[P_l (N, C, H_l, W_l)] -> (N, sum_l H_l * W_l * A, out_per_anchor), laid out (H, W, A)."""
        outs = []
        for x in features:
            y = self.out(self.tower(x))  # (N, A * D, H, W)
            outs.append(y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, self.out_per_anchor))
        return torch.cat(outs, dim=1)
