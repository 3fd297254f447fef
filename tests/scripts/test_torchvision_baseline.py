"""benchmarks/torchvision_baseline.py on a tiny VOC set: it plans its budget and scores the split."""

import json
import sys

from benchmarks import torchvision_baseline
from detector.engine import budget
from tests.engine.test_recipes import data_only


def test_the_baseline_plans_its_budget_and_scores_the_split(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(budget, "MIN_TIMED_FRACTION", 0.0)  # the first plan at step 13 on any machine
    out = tmp_path / "tv.json"
    monkeypatch.setattr(sys, "argv", ["torchvision_baseline", "--config", str(data_only(tmp_path)), "--budget", "1h",
                                      "--image-size", "64", "--batch", "2", "--output", str(out)])
    monkeypatch.setattr(budget, "plan", lambda *a, **k: _short(*a, **k))
    torchvision_baseline.main()
    printed = capsys.readouterr().out
    assert "time budget 1 h 0 min: " in printed and "over the first 13 steps" in printed
    record = json.loads(out.read_text())
    assert record["iterations"] == 16 and record["budget"] == "1h" and 0 <= record["AP"] <= 1
    assert set(record["per_class_AP"]) == {"cat", "dog"} and record["machine"]["cpu"] is not None


_plan = budget.plan


def _short(configured, seconds, *args, **kwargs):
    """The real plan for the real budget (checked), cut to 16 iterations so the test is short."""
    assert seconds == 3600.0
    fixed = _plan(configured, seconds, *args, **kwargs)
    fixed.max_iters = 16
    return fixed
