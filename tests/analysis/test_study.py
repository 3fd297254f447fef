"""focaldet study: grid parsing, resumable runs, failed runs marked, the results table."""

import json
import shutil
import sys

import pytest

from detector.analysis import sweep
from detector.analysis.sweep import cell_name, expand, mean_std_text, parse_grid, split_values, threads_per_run
from detector.cli.main import main as cli


def test_grid_parsing_keeps_bracketed_values_whole():
    assert split_values("0,0.5,[1,2]") == ["0", "0.5", "[1,2]"]
    fixed, axes = parse_grid(["loss.gamma=0,2", "model.anchors.sizes=[8,16,32,64,128]", "loss.alpha=0.25,0.5"])
    assert fixed == ["model.anchors.sizes=[8,16,32,64,128]"]
    assert axes == {"loss.gamma": ["0", "2"], "loss.alpha": ["0.25", "0.5"]}
    assert cell_name({"loss.gamma": "2", "loss.alpha": "0.25"}) == "gamma2_alpha0.25"
    with pytest.raises(ValueError, match="not key=value"):
        parse_grid(["loss.gamma"])


def test_mean_std_text_is_a_seed_table_cell():
    assert mean_std_text([0.3, 0.5]) == "0.400 ± 0.141"  # sample std, as the tables say
    assert mean_std_text([0.3, float("nan"), 0.5], digits=2) == "0.40 ± 0.14"  # NaN: an ECE with no detection
    assert mean_std_text([0.25]) == "0.250"
    assert mean_std_text([float("nan")]) == mean_std_text([]) == "-"


def test_the_cores_are_split_between_the_runs_that_can_be_at_once():
    assert threads_per_run(cpus=2, parallel=2, runs=6) == 1
    assert threads_per_run(cpus=2, parallel=2, runs=1) == 2  # one run left: both cores
    assert threads_per_run(cpus=16, parallel=3, runs=2) == 8
    assert threads_per_run(cpus=2, parallel=4, runs=0) == 2 and threads_per_run(cpus=1, parallel=4, runs=9) == 1


def test_expand_orders_cells_then_seeds(tmp_path):
    runs = expand(tmp_path, {"loss.gamma": ["0", "2"]}, [0, 1])
    assert [(r.cell, r.seed) for r in runs] == [("gamma0", 0), ("gamma0", 1), ("gamma2", 0), ("gamma2", 1)]
    assert runs[3].overrides == ["loss.gamma=2", "train.seed=1", f"train.output_dir={tmp_path / 'gamma2' / 'seed1'}"]


def test_study_runs_resumes_and_tabulates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []

    def fake_run(cmd, stdout, stderr, env):  # stands in for a train.py subprocess
        calls.append(cmd)
        out = cmd[cmd.index("--config") + 1:]
        folder = next(a.split("=", 1)[1] for a in out if a.startswith("train.output_dir="))
        gamma = float(next(a.split("=", 1)[1] for a in out if a.startswith("loss.gamma=")))
        seed = int(next(a.split("=", 1)[1] for a in out if a.startswith("train.seed=")))
        if gamma == 5:
            return type("R", (), {"returncode": 2})()
        metrics = {"AP": 0.1 * gamma + 0.01 * seed, "AP50": 0.5, "AP75": 0.2, "APs": 0.1}
        (tmp_path / folder / "metrics.json").write_text(json.dumps(metrics))
        (tmp_path / folder / "train_log.jsonl").write_text(json.dumps({"step": 10, "grad_norm": gamma}) + "\n")
        return type("R", (), {"returncode": 0})()

    monkeypatch.setattr(sweep.subprocess, "run", fake_run)
    args = ["--name", "s", "--seeds", "0,1", "loss.gamma=0,2,5", "solver.max_iters=10"]
    assert cli(["study", *args]) == 0
    assert len(calls) == 6 and all("solver.max_iters=10" in c for c in calls)
    assert calls[0][:6] == [sys.executable, "-m", "detector", "train", "--config", "shapes_focal"]
    table = (tmp_path / "runs" / "s" / "results.md").read_text()
    assert "| [2](gamma2) | 2 | 0.205 ± 0.007 |" in table
    assert "| [5](gamma5) | 0 (2 failed) | - |" in table
    assert (tmp_path / "runs" / "s" / "gamma5" / "seed0" / "FAILED").is_file()
    calls.clear()
    assert cli(["study", *args]) == 0  # resumable: only the failed cell runs again
    assert len(calls) == 2 and all("loss.gamma=5" in c for c in calls)
    assert cli(["study", *args, "--table-only", "--publish", str(tmp_path / "pub")]) == 0 and len(calls) == 2
    assert (tmp_path / "pub" / "results.md").read_text() == table
    assert json.loads((tmp_path / "pub" / "gamma2" / "seed1" / "metrics.json").read_text())["AP"] == pytest.approx(0.21)
    assert (tmp_path / "pub" / "gamma5" / "seed0" / "FAILED").is_file()
    assert (tmp_path / "pub" / "gamma0" / "seed1" / "train_log.jsonl").read_text() == '{"step": 10, "grad_norm": 0.0}\n'
    csv_text = (tmp_path / "runs" / "s" / "results.csv").read_text().splitlines()
    assert csv_text[0].startswith("loss.gamma,cell,runs,failed,AP_mean,AP_std")


def test_published_runs_continue_a_study_in_a_fresh_clone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []

    def fake_run(cmd, stdout, stderr, env):
        calls.append(cmd)
        folder = tmp_path / next(a.split("=", 1)[1] for a in cmd if a.startswith("train.output_dir="))
        if "loss.gamma=5" in cmd:
            return type("R", (), {"returncode": 2})()
        if "train.seed=1" in cmd:  # the run before it was published as soon as it ended
            assert (tmp_path / "pub" / "gamma0" / "seed0" / "metrics.json").is_file()
        (folder / "metrics.json").write_text(json.dumps({"AP": 0.5, "AP50": 0.5, "AP75": 0.5, "APs": 0.5}))
        return type("R", (), {"returncode": 0})()

    monkeypatch.setattr(sweep.subprocess, "run", fake_run)
    args = ["study", "--name", "s", "--seeds", "0,1", "loss.gamma=0,5", "--publish", str(tmp_path / "pub")]
    assert cli(args) == 0 and len(calls) == 4
    assert sorted(p.parent.name for p in (tmp_path / "pub").rglob("metrics.json")) == ["seed0", "seed1"]
    assert (tmp_path / "pub" / "gamma5" / "seed1" / "FAILED").is_file()
    shutil.rmtree(tmp_path / "runs")  # a fresh clone: only the published records
    calls.clear()
    capsys.readouterr()
    assert cli(args) == 0
    assert len(calls) == 2 and all("loss.gamma=5" in c for c in calls)  # only the failed runs train again
    out = capsys.readouterr().out
    assert "2 runs finished earlier, restored from" in out and "| [0](gamma0) | 2 | 0.500 ± 0.000 |" in out
    assert (tmp_path / "runs" / "s" / "gamma0" / "seed1" / "metrics.json").is_file()
    monkeypatch.setattr(sweep.subprocess, "run", lambda cmd, **kw: fake_run([c.replace("=5", "=4") for c in cmd], **kw))
    assert cli(args) == 0  # the failed runs now finish: their FAILED marks leave the published records
    assert not list((tmp_path / "pub").rglob("FAILED"))
