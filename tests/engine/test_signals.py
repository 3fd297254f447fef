"""A pre-empted job: SIGTERM to a real training process saves last.pt at the next step boundary and
exits cleanly; --resume continues from that step."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import train
from detector.core.checkpoint import load_checkpoint
from detector.core.config import save_yaml
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_saves_and_resume_continues(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.solver.max_iters = 5000  # far more than the test waits for
    cfg.train.checkpoint_period = 100_000  # so last.pt can only come from the signal
    cfg.train.eval_period = 0
    save_yaml(cfg, tmp_path / "cfg.yaml")
    proc = subprocess.Popen([sys.executable, "train.py", "--config", str(tmp_path / "cfg.yaml")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = Path(cfg.train.output_dir)
    deadline = time.time() + 120
    while not list(run.glob("events.out.tfevents.*")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(4)  # a few training steps
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "SIGTERM at step" in out and "--resume" in out
    step = load_checkpoint(run / "last.pt")["step"]
    assert 0 < step < 5000
    assert not (run / "metrics.json").exists()
    assert train.main(["--config", str(tmp_path / "cfg.yaml"), "--resume", f"solver.max_iters={step + 2}"]) == 0
    assert load_checkpoint(run / "last.pt")["step"] == step + 2


def test_keep_last_k_step_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.solver.max_iters, cfg.train.checkpoint_period, cfg.train.keep_checkpoints = 4, 1, 2
    build_trainer(cfg).fit()
    run = Path(cfg.train.output_dir)
    assert sorted(p.name for p in run.glob("step_*.pt")) == ["step_00000003.pt", "step_00000004.pt"]
    assert load_checkpoint(run / "step_00000004.pt")["step"] == 4 == load_checkpoint(run / "last.pt")["step"]
