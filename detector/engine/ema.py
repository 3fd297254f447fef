"""An exponential moving average of the weights (``train.ema_decay``), evaluated and saved instead of them.

After update t the average moves towards the model by ``1 - d_t`` with ``d_t = decay * (1 - exp(-t / tau))``:
the ramp (Ultralytics' ModelEMA, MMDetection's ExpMomentumEMA) keeps the random initial weights from
lingering in short runs. Floating-point parameters and buffers (BatchNorm statistics) are averaged
in one fused call; integer buffers are copied.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn


class ModelEMA:
    def __init__(self, model: nn.Module, decay: float, tau: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    def _pairs(self, model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[tuple[Tensor, Tensor]]]:
        own = self.module.state_dict(keep_vars=True)
        averaged, current, copied = [], [], []
        for name, value in model.state_dict(keep_vars=True).items():
            target = own[name].data
            if target.is_floating_point():
                averaged.append(target)
                current.append(value.detach())
            else:
                copied.append((target, value.detach()))
        return averaged, current, copied

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step towards ``model`` (the same architecture), after each optimiser step."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        averaged, current, copied = self._pairs(model)
        torch._foreach_lerp_(averaged, current, 1 - d)
        for target, value in copied:
            target.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any], weights: dict[str, Tensor]) -> None:
        self.updates = int(state["updates"])
        self.module.load_state_dict(weights)
