"""Comparing runs: metrics read from run folders or files, deltas against the first, clear errors."""

import json

import pytest

from detector.evaluation.coco_eval import STAT_KEYS
from detector.evaluation.compare import compare_table, read_metrics


def write_run(folder, ap: float) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({**{k: ap / 2 for k in STAT_KEYS}, "AP": ap, "step": 100}))


def test_table_has_one_row_per_run_and_deltas_against_the_first(tmp_path):
    write_run(tmp_path / "focal", 0.47)
    write_run(tmp_path / "bce", 0.42)
    table = compare_table([tmp_path / "focal", tmp_path / "bce" / "metrics.json"])
    header, focal, bce = table.splitlines()
    assert header.split()[:3] == ["run", "AP", "AP50"]
    assert focal.split()[:3] == ["focal", "0.470", "0.235"]
    assert bce.split()[1:5] == ["0.420", "(-0.050)", "0.210", "(-0.025)"] and "bce" in bce.split()[0]


def test_missing_or_incomplete_metrics_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics file .*nothing/metrics.json' does not exist .train the run"):
        read_metrics(tmp_path / "nothing" / "metrics.json")
    (tmp_path / "partial.json").write_text(json.dumps({"AP": 0.1}))
    with pytest.raises(ValueError, match="partial.json' lacks keys"):
        read_metrics(tmp_path / "partial.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json' is not valid JSON"):
        read_metrics(tmp_path / "broken.json")
