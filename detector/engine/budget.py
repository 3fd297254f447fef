"""Training to a wall-clock budget (``solver.time_budget``): measure, then fix the iteration count.

The first steps are timed (after a few that start the loader workers and build kernels), an
evaluation and a checkpoint are estimated, and ``plan`` fixes ``max_iters`` so that the remaining
steps, the periodic and final evaluations and every checkpoint fit what is left of the budget.
Warm-up becomes a fraction of the run when the run is short, and step milestones scale with it.
The plan is then part of the run's config (config.yaml, checkpoints), so ``--resume`` continues
the same schedule instead of measuring again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detector.core.config import SolverConfig
from detector.core.duration import format_duration

PROVISIONAL_ITERS = 10**9  # max_iters until the count is fixed: the schedule is the warm-up ramp alone
SKIP_STEPS = 3  # not timed: loader workers starting, kernels being built
MIN_TIMED_STEPS = 10
MIN_TIMED_FRACTION = 0.02  # and at least this share of the budget timed, for a steady rate
END_MARGIN_SECONDS = 3.0  # writing metrics, closing TensorBoard, the interpreter's exit


@dataclass
class Calibration:
    """When to start and stop timing steps; the trainer reports each step and the clock."""

    budget: float  # seconds
    first_step: int  # the run's step when training began (a resumed run's is not 0)
    start: float | None = None  # clock at the end of step first_step + SKIP_STEPS
    start_step: int = 0

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
        return (now - self.start) / max(step - self.start_step, 1)


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

    def describe(self, budget: float, elapsed: float, step: int) -> str:
        spent = " (the budget is spent: training stops here)" if self.max_iters <= step else ""
        return (f"time budget {format_duration(budget)}: {format_duration(elapsed)} used by setup and the first "
                f"{step} steps; {self.step_seconds:.3f} s/step measured, ~{self.eval_seconds:.1f} s per evaluation "
                f"(x{self.evaluations}), ~{self.checkpoint_seconds:.1f} s per checkpoint (x{self.checkpoints}) "
                f"-> solver.max_iters={self.max_iters}, warm-up {self.warmup_iters}{spent}")


def _cost(total: int, done: int, step_s: float, eval_s: float, ckpt_s: float, eval_period: int,
          ckpt_period: int) -> tuple[float, int, int]:
    """Seconds from step ``done`` to the end of a ``total``-step run, with its evaluation and checkpoint counts."""
    evaluations = 1 + (len(range(done + 1, total, eval_period)) if eval_period else 0)  # periodic + final
    checkpoints = total // ckpt_period - done // ckpt_period + 1  # periodic + the final last.pt
    seconds = (total - done) * step_s + evaluations * eval_s + checkpoints * ckpt_s
    return seconds, evaluations, checkpoints


def plan(solver: SolverConfig, budget: float, elapsed: float, done: int, step_s: float, eval_s: float,
         ckpt_s: float, eval_period: int, ckpt_period: int, configured_iters: int) -> Plan:
    """The largest iteration count (at least ``done``) whose remaining steps, evaluations and
    checkpoints fit in ``budget - elapsed`` seconds; warm-up and the step milestones (given for
    ``configured_iters`` iterations) fitted to it."""
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
    warmup = min(solver.warmup_iters, math.ceil(solver.warmup_fraction * total))
    steps = [round(s * total / configured_iters) for s in solver.steps]
    return Plan(total, warmup, [float(s) for s in steps], step_s, eval_s, ckpt_s, evaluations, checkpoints)


def apply(solver: SolverConfig, fixed: Plan) -> None:
    """Write the plan into the run's solver config (which the LR schedule reads at every step)."""
    solver.max_iters, solver.warmup_iters, solver.steps = fixed.max_iters, fixed.warmup_iters, fixed.steps
