"""Learning-rate schedule and optimizer parameter groups."""

import math

import pytest
import torch

from detector.core.config import SolverConfig
from detector.engine.schedule import build_optimizer, build_scheduler, lr_factor


def test_step_schedule_with_linear_warmup():
    cfg = SolverConfig(max_iters=100, warmup_iters=10, warmup_factor=0.001, schedule="step", steps=[60, 80],
                       step_gamma=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.001)
    assert lr_factor(5, cfg) == pytest.approx(0.001 * 0.5 + 0.5)
    assert [lr_factor(i, cfg) for i in (10, 59, 60, 79, 80, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_reaches_zero_and_stays_there():
    cfg = SolverConfig(max_iters=100, warmup_iters=0, schedule="cosine")
    assert lr_factor(0, cfg) == 1.0 and lr_factor(50, cfg) == pytest.approx(0.5)
    assert lr_factor(25, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(100, cfg) == pytest.approx(0.0) and lr_factor(150, cfg) == pytest.approx(0.0)


def test_optimizer_groups_betas_and_scheduler_steps():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    sgd = build_optimizer(model, SolverConfig(lr=0.1, momentum=0.8, weight_decay=0.01))
    decay, no_decay = sgd.param_groups
    assert [p.ndim for p in decay["params"]] == [4] and decay["weight_decay"] == 0.01
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0  # conv bias, BN weight and bias
    assert decay["momentum"] == 0.8
    adamw = build_optimizer(model, SolverConfig(optimizer="adamw", lr=0.1, betas=[0.8, 0.95], momentum=0.5))
    assert adamw.param_groups[0]["betas"] == (0.8, 0.95)  # solver.momentum is SGD's alone
    sched = build_scheduler(sgd, SolverConfig(lr=0.1, max_iters=10, warmup_iters=2, warmup_factor=0.5, steps=[5]))
    lrs = []
    for _ in range(6):
        lrs.append(sgd.param_groups[0]["lr"])
        sgd.step()
        sched.step()
    assert lrs == pytest.approx([0.05, 0.075, 0.1, 0.1, 0.1, 0.01])
