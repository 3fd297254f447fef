"""The optimizer and the learning-rate schedule: linear warmup, then step or cosine decay."""

from __future__ import annotations

import math

import torch
from torch import nn

from detector.core.config import SolverConfig


def lr_factor(it: int, cfg: SolverConfig) -> float:
    """Multiplier of ``cfg.lr`` at iteration ``it`` (0-based)."""
    if cfg.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(it, cfg.max_iters) / cfg.max_iters))
    else:
        factor = cfg.step_gamma ** sum(it >= s for s in cfg.steps)
    if it < cfg.warmup_iters:
        alpha = it / cfg.warmup_iters
        factor *= cfg.warmup_factor * (1 - alpha) + alpha
    return factor


def build_optimizer(model: nn.Module, cfg: SolverConfig) -> torch.optim.Optimizer:
    """SGD with momentum (or AdamW); no weight decay on norm layers and biases (they set scale and offset,
    which decay would only pull towards zero).

    Fused (one kernel over all parameters, on CPU and GPU), which also lets a step be skipped on the
    device (``engine.nonfinite.step_unless``). SGD's momentum buffers start as zeros rather than at the
    first step, so that a first step skipped on the device leaves a defined state (the first update
    is the same: 0.9 * 0 + g = g).
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for _name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), fused=True)
    optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, fused=True)
    if cfg.momentum:
        for p in decay + no_decay:
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return optimizer


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: SolverConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, cfg))
