"""solver.time_budget: durations, the plan's arithmetic, and a budget run fixing and recording its count."""

import math

import pytest
import yaml

from detector.core.checkpoint import load_checkpoint
from detector.core.config import ConfigError, SolverConfig, load_config
from detector.core.duration import format_duration, parse_duration
from detector.engine import budget
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400),
                                           ("2.5", 150), ("10 m", 600), (3, 180), ("0.5s", 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10x", "m", "0", "-1", "10m5", "", "nan", "inf"])
def test_bad_durations_are_named(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_time_budget_in_a_config_is_checked_and_numbers_are_minutes():
    assert load_config(None, ["solver.time_budget=10"]).solver.time_budget == "10"  # YAML's int, as text
    with pytest.raises(ConfigError, match=r"solver.time_budget: '10 parsecs' is not a duration"):
        load_config(None, ["solver.time_budget=10 parsecs"])
    assert format_duration(605.2) == "10 min 5 s" and format_duration(42) == "42.0 s"


def cost(total, done, step_s, eval_s, ckpt_s, eval_period, ckpt_period):
    return budget._cost(total, done, step_s, eval_s, ckpt_s, eval_period, ckpt_period)[0]


@pytest.mark.parametrize("eval_period, ckpt_period", [(0, 500), (100, 50), (7, 1000)])
def test_the_plan_is_the_largest_count_that_fits(eval_period, ckpt_period):
    solver = SolverConfig(max_iters=2000, warmup_iters=50, warmup_fraction=0.05, schedule="step",
                          steps=[1000.0, 1500.0])
    args = dict(step_s=0.25, eval_s=6.0, ckpt_s=0.4, eval_period=eval_period, ckpt_period=ckpt_period)
    fixed = budget.plan(solver, 600.0, 20.0, 13, **args)
    left = 600.0 - 20.0 - budget.END_MARGIN_SECONDS
    assert cost(fixed.max_iters, 13, **args) <= left < cost(fixed.max_iters + 1, 13, **args)
    assert 13 < fixed.max_iters < left / 0.25 + 13
    assert fixed.warmup_iters == min(50, math.ceil(0.05 * fixed.max_iters))
    assert fixed.steps == [round(1000 * fixed.max_iters / 2000), round(1500 * fixed.max_iters / 2000)]
    assert fixed.evaluations == 1 + (len(range(14, fixed.max_iters, eval_period)) if eval_period else 0)


def test_a_short_run_warms_up_for_a_fraction_and_a_spent_budget_stops_at_once():
    solver = SolverConfig(max_iters=2000, warmup_iters=500, warmup_fraction=0.1)
    short = budget.plan(solver, 60.0, 5.0, 13, 0.1, 1.0, 0.1, 0, 500)
    assert short.warmup_iters == math.ceil(0.1 * short.max_iters) < 500
    spent = budget.plan(solver, 60.0, 59.0, 13, 0.1, 1.0, 0.1, 0, 500)
    assert spent.max_iters == 13
    assert "the budget is spent" in spent.describe(60.0, 59.0, 13)


def test_a_budget_run_fixes_its_count_records_it_and_resume_keeps_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget, "MIN_TIMED_FRACTION", 0.0)  # the count is fixed at step 13 on any machine
    cfg = tiny_config(tmp_path)
    cfg.solver.time_budget, cfg.solver.max_iters, cfg.solver.warmup_iters = "1h", 4, 50
    trainer = build_trainer(cfg)
    trainer.fit(until=budget.SKIP_STEPS + budget.MIN_TIMED_STEPS + 5)  # stops after the count is fixed
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("time budget 1 h 0 min"))
    plan = trainer.budget_plan
    assert plan is not None and f"solver.max_iters={plan['max_iters']}" in line
    assert plan["max_iters"] > trainer.step  # the configured 4 does not apply; the run stopped before the end
    assert plan["warmup_iters"] == 50  # a long run (over 1000 steps at under 3.6 s each) keeps the configured warm-up
    run = tmp_path / "run"
    recorded = yaml.safe_load((run / "config.yaml").read_text())["solver"]
    assert (recorded["max_iters"], recorded["warmup_iters"], recorded["time_budget"]) == \
        (plan["max_iters"], plan["warmup_iters"], "1h")
    assert load_checkpoint(run / "last.pt")["time_budget_plan"] == plan

    again = tiny_config(tmp_path)
    again.solver.time_budget, again.solver.max_iters, again.solver.warmup_iters = "1h", 4, 50
    resumed = build_trainer(again, initialise=False)
    resumed.resume(run / "last.pt")
    assert (again.solver.max_iters, again.solver.warmup_iters) == (plan["max_iters"], plan["warmup_iters"])
    step = resumed.step
    resumed.fit(until=step + 2)
    assert "time budget" not in capsys.readouterr().out  # not measured again
    assert resumed.step == step + 2 and resumed.budget_plan == plan


def test_the_plan_is_refined_at_shares_of_the_budget():
    solver = SolverConfig(max_iters=2000, warmup_iters=50)
    calibration = budget.Calibration(600.0, 0, solver)
    calibration.begin(3, 100.0)
    assert not calibration.done(12, 200.0) and not calibration.done(13, 111.0) and calibration.done(13, 112.0)
    first = budget.plan(solver, 600.0, 12.0, 13, 0.25, 3.0, 0.3, 0, 500)
    calibration.planned(first, 13, 112.0, 12.0)
    assert calibration.refine_step == 13 + round((budget.REFINE_AT[0] * 600 - 12) / 0.25)
    calibration.paused = 4.0  # an evaluation in between is not step time
    assert calibration.step_seconds(113, 112.0 + 4.0 + 100 * 0.3) == pytest.approx(0.3)
    short = budget.Calibration(10.0, 0, solver)
    short.planned(budget.plan(solver, 10.0, 2.0, 13, 0.1, 1.0, 0.1, 0, 500), 13, 0.0, 2.0)
    assert short.refine_step is None  # too few steps left to measure again
    later = budget.plan(solver, 600.0, 190.0, 700, 0.25, 3.0, 0.3, 0, 500)  # past the first share
    calibration.planned(later, 700, 300.0, 190.0)
    assert calibration.refine_step == 700 + round((budget.REFINE_AT[1] * 600 - 190) / 0.25)
    assert calibration.first is first  # the first plan's evaluation and checkpoint estimates stay


def test_a_budget_run_plans_again_from_the_steps_since(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget, "MIN_TIMED_FRACTION", 0.0)
    planned = budget.Calibration.planned

    def refine_soon(self, fixed, step, now, elapsed):
        planned(self, fixed, step, now, elapsed)
        self.refine_step = step + budget.MIN_REFINE_STEPS

    monkeypatch.setattr(budget.Calibration, "planned", refine_soon)
    cfg = tiny_config(tmp_path)
    cfg.solver.time_budget, cfg.solver.max_iters = "1h", 4
    trainer = build_trainer(cfg)
    first_at = budget.SKIP_STEPS + budget.MIN_TIMED_STEPS
    trainer.fit(until=first_at + budget.MIN_REFINE_STEPS + 2)
    lines = [t for t in capsys.readouterr().out.splitlines() if t.startswith("time budget")]
    assert len(lines) == 2 and f"over the first {first_at} steps" in lines[0]
    assert lines[1].startswith("time budget, planned again") and \
        f"over steps {first_at}-{first_at + budget.MIN_REFINE_STEPS}" in lines[1]
    assert f"solver.max_iters={trainer.budget_plan['max_iters']}," in lines[1]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["time_budget_plan"] == trainer.budget_plan
