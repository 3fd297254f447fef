"""Training to a wall-clock budget (``solver.time_budget``): measure, then fix the iteration count.

The first steps are timed (after a few that start the loader workers and build kernels), an
evaluation and a checkpoint are estimated, and ``plan`` fixes ``max_iters`` so that the remaining
steps, the periodic and final evaluations and every checkpoint fit what is left of the budget.
Warm-up becomes a fraction of the run when the run is short, and step milestones scale with it.
At REFINE_AT shares of the budget the count is planned again from the steps since the last plan
(hundreds of them, epoch boundaries and loader stalls included): on a shared 2-core machine the
first steps of a 10-minute raccoon run were 11% faster than its average, and a 90-second BCCD run
slowed by a quarter after its first minute. The last plan is late, so a drift moves little. The
plan is part of the run's config (config.yaml, checkpoints), so ``--resume`` continues the same
schedule instead of measuring.
The clock starts with the process (``process_started``), so the whole command fits the budget.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from detector.core.config import SolverConfig
from detector.core.duration import format_duration

PROVISIONAL_ITERS = 10**9  # max_iters until the count is fixed: the schedule is the warm-up ramp alone
SKIP_STEPS = 3  # not timed: loader workers starting, kernels being built
MIN_TIMED_STEPS = 10
MIN_TIMED_FRACTION = 0.02  # and at least this share of the budget timed, for a steady rate
REFINE_AT = (0.3, 0.6, 0.85)  # shares of the budget at which the count is planned again
MIN_REFINE_STEPS = 20
END_MARGIN_SECONDS = 3.0  # writing metrics, closing TensorBoard, the interpreter's exit


def process_started() -> float:
    """``time.perf_counter()``'s value when this process started (Linux: /proc), else now."""
    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks after boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return now - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return now


@dataclass
class Calibration:
    """When to time steps and plan; the trainer reports each step and the clock.

    Timing starts after SKIP_STEPS; the first plan comes when MIN_TIMED_STEPS and MIN_TIMED_FRACTION
    of the budget are timed; the next at ``refine_step`` (None: that plan is final).
    """

    budget: float  # seconds
    first_step: int  # the run's step when training began (a resumed run's is not 0)
    configured: SolverConfig  # the solver as configured (warm-up, milestones and their scale), never changed
    start: float | None = None  # clock when timing began
    start_step: int = 0
    paused: float = 0.0  # seconds spent evaluating and checkpointing since timing began (not steps)
    first: Plan | None = None  # the first plan: its evaluation and checkpoint estimates are kept
    refine_step: int | None = None

    def timing_starts(self, step: int) -> bool:
        return self.start is None and step == self.first_step + SKIP_STEPS

    def begin(self, step: int, now: float) -> None:
        self.start, self.start_step = now, step

    def done(self, step: int, now: float) -> bool:
        """Enough steps timed: at least MIN_TIMED_STEPS and MIN_TIMED_FRACTION of the budget."""
        return (self.start is not None and step - self.start_step >= MIN_TIMED_STEPS
                and now - self.start >= MIN_TIMED_FRACTION * self.budget)

    def step_seconds(self, step: int, now: float) -> float:
        assert self.start is not None
        return (now - self.start - self.paused) / max(step - self.start_step, 1)

    def planned(self, fixed: Plan, step: int, now: float, elapsed: float) -> None:
        """A plan is made at ``step``: time the steps from here, to plan again at the next share of
        REFINE_AT that leaves MIN_REFINE_STEPS on both sides (none: this plan is final)."""
        self.first = self.first or fixed
        self.start, self.start_step, self.paused, self.refine_step = now, step, 0.0, None
        for share in REFINE_AT:
            at = step + round((share * self.budget - elapsed) / fixed.step_seconds)
            if step + MIN_REFINE_STEPS <= at < fixed.max_iters - MIN_REFINE_STEPS:
                self.refine_step = at
                return


@dataclass
class Plan:
    max_iters: int
    warmup_iters: int
    steps: list[float]
    step_seconds: float
    eval_seconds: float
    checkpoint_seconds: float
    evaluations: int  # including the final one
    checkpoints: int  # from now on, including the final one

    def describe(self, budget: float, elapsed: float, step: int, since: int = 0) -> str:
        spent = " (the budget is spent: training stops here)" if self.max_iters <= step else ""
        what = f"the first {step} steps" if not since else f"steps {since}-{step}"
        head = (f"time budget {format_duration(budget)}: {format_duration(elapsed)} used" if not since
                else f"time budget, planned again: {format_duration(elapsed)} used")
        return (f"{head}; {self.step_seconds:.3f} s/step measured over {what}, ~{self.eval_seconds:.1f} s per "
                f"evaluation (x{self.evaluations}), ~{self.checkpoint_seconds:.1f} s per checkpoint "
                f"(x{self.checkpoints}) -> solver.max_iters={self.max_iters}, warm-up {self.warmup_iters}{spent}")


@torch.no_grad()
def inference_seconds(model: nn.Module, images: Any, device: torch.device, amp: torch.dtype | None) -> float:
    """Seconds of one inference-mode forward of ``model`` on ``images`` (a batch as the model takes
    it), the second of two passes (the first builds kernels); the model is left in training mode."""
    model.eval()
    seconds = 0.0
    for _ in range(2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tick = time.perf_counter()
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            model(images)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - tick
    model.train()
    return seconds


def checkpoint_seconds(state: dict[str, Any]) -> float:
    """Seconds to write a checkpoint of ``state``: serialised in memory, with room for the disk."""
    tick = time.perf_counter()
    torch.save(state, io.BytesIO())
    return 1.5 * (time.perf_counter() - tick) + 0.1


def evaluation_seconds(per_image: float, images: int) -> float:
    """An evaluation of ``images`` validation images whose forward pass takes ``per_image`` seconds each:
    1.5x for post-processing and loading, plus COCO scoring (a fixed 2 s and 4 ms per image, measured on the CPU)."""
    return 1.5 * per_image * images + 2.0 + 0.004 * images


def _cost(total: int, done: int, step_s: float, eval_s: float, ckpt_s: float, eval_period: int,
          ckpt_period: int) -> tuple[float, int, int]:
    """Seconds from step ``done`` to the end of a ``total``-step run, with its evaluation and checkpoint counts."""
    evaluations = 1 + (len(range(done + 1, total, eval_period)) if eval_period else 0)  # periodic + final
    checkpoints = total // ckpt_period - done // ckpt_period + 1  # periodic + the final last.pt
    seconds = (total - done) * step_s + evaluations * eval_s + checkpoints * ckpt_s
    return seconds, evaluations, checkpoints


def plan(configured: SolverConfig, budget: float, elapsed: float, done: int, step_s: float, eval_s: float,
         ckpt_s: float, eval_period: int, ckpt_period: int) -> Plan:
    """The largest iteration count (at least ``done``) whose remaining steps, evaluations and
    checkpoints fit in ``budget - elapsed`` seconds; the configured warm-up and step milestones
    (given for ``configured.max_iters`` iterations) fitted to it."""
    left = budget - elapsed - END_MARGIN_SECONDS
    per_step = step_s + (eval_s / eval_period if eval_period else 0.0) + ckpt_s / ckpt_period
    fits = lambda n: _cost(n, done, step_s, eval_s, ckpt_s, eval_period, ckpt_period)[0] <= left  # noqa: E731
    total = max(done, done + math.floor((left - eval_s - ckpt_s) / per_step))  # near the answer; then exact
    while total > done and not fits(total):
        total -= 1
    while fits(total + 1):
        total += 1
    total = max(total, 1)
    _, evaluations, checkpoints = _cost(total, done, step_s, eval_s, ckpt_s, eval_period, ckpt_period)
    warmup = min(configured.warmup_iters, math.ceil(configured.warmup_fraction * total))
    steps = [round(s * total / configured.max_iters) for s in configured.steps]
    return Plan(total, warmup, [float(s) for s in steps], step_s, eval_s, ckpt_s, evaluations, checkpoints)


def apply(solver: SolverConfig, fixed: Plan) -> None:
    """Write the plan into the run's solver config (which the LR schedule reads at every step)."""
    solver.max_iters, solver.warmup_iters, solver.steps = fixed.max_iters, fixed.warmup_iters, fixed.steps
