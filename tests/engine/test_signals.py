"""A pre-empted job: SIGTERM to a real training process, or to its whole process group as SLURM,
``timeout`` and Ctrl-C send it (DataLoader workers included), or to torchrun, saves last.pt at the
next step boundary and exits with STOPPED_EXIT_CODE; --resume continues from that step, bit-exactly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

import train
from detector.core.checkpoint import load_checkpoint
from detector.core.config import load_config, save_yaml
from detector.core.signals import STOPPED_EXIT_CODE
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def logged_steps(run: Path) -> int:
    log = run / "train_log.jsonl"
    return len(log.read_text().splitlines()) if log.is_file() else 0


def start_in_own_group(args: list[str], env: dict | None = None) -> subprocess.Popen:
    """A training command in a new session, so its whole process group can be signalled."""
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)


def signal_group_after(proc: subprocess.Popen, run: Path, steps: int, sig: int = signal.SIGTERM) -> str:
    """Wait until ``run`` has logged ``steps`` steps, send ``sig`` to the process group, return the output."""
    deadline = time.time() + 180
    while logged_steps(run) < steps and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    os.killpg(proc.pid, sig)
    return proc.communicate(timeout=180)[0]


def group_config(tmp_path: Path, workers: int):
    cfg = tiny_config(tmp_path)
    cfg.solver.max_iters = 5000  # far more than the test waits for
    cfg.train.checkpoint_period, cfg.train.eval_period, cfg.train.log_period = 100_000, 0, 1
    cfg.train.num_workers = workers
    cfg.augment.hflip_prob, cfg.augment.color_jitter_prob = 0.5, 0.5  # random augmentation, drawn in the workers
    return cfg


def test_sigterm_saves_and_resume_continues(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.solver.max_iters = 5000  # far more than the test waits for
    cfg.train.checkpoint_period = 100_000  # so last.pt can only come from the signal
    cfg.train.eval_period, cfg.train.log_period = 0, 1
    save_yaml(cfg, tmp_path / "cfg.yaml")
    proc = subprocess.Popen([sys.executable, "train.py", "--config", str(tmp_path / "cfg.yaml")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = Path(cfg.train.output_dir)
    deadline = time.time() + 120
    while logged_steps(run) < 2 and proc.poll() is None and time.time() < deadline:  # a few training steps
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == STOPPED_EXIT_CODE, out
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


def test_sigterm_to_the_process_group_with_workers_saves_and_resumes_bit_exactly(tmp_path):
    """SLURM's scancel / time limit, ``timeout``, ``kill -- -PGID``: the loader's workers get the signal too.
    Before, they died first and the run ended in "DataLoader worker (pid ...) is killed by signal" with no last.pt."""
    cfg = group_config(tmp_path, workers=2)
    save_yaml(cfg, tmp_path / "cfg.yaml")
    run = Path(cfg.train.output_dir)
    # one thread in both processes: bit-exact comparisons need the same kernels' summation order
    proc = start_in_own_group([sys.executable, "train.py", "--config", str(tmp_path / "cfg.yaml")],
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = signal_group_after(proc, run, steps=4)
    assert proc.returncode == STOPPED_EXIT_CODE, out
    step = load_checkpoint(run / "last.pt")["step"]
    assert step >= 4 and step in (logged_steps(run), logged_steps(run) - 1), out  # the step it was at
    [line] = [x for x in out.splitlines() if x.startswith("stopped:")]
    assert f"SIGTERM at step {step}: saved {run / 'last.pt'}; continue with the same command and --resume" in line
    assert "DataLoader worker" not in out and "Traceback" not in out, out

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed = build_trainer(load_config(tmp_path / "cfg.yaml", []), initialise=False)
        resumed.resume(run / "last.pt")
        resumed.fit(until=step + 2)
        straight = build_trainer(load_config(tmp_path / "cfg.yaml", [f"train.output_dir={tmp_path / 'straight'}"]))
        straight.fit(until=step + 2)
    finally:
        torch.set_num_threads(threads)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_sigterm_to_torchrun_with_workers_saves_once_at_the_same_step(tmp_path):
    """torchrun passes a stop on to each process's own group (workers included): both processes stop
    after the same step, rank 0 saves last.pt, and each prints how to continue."""
    cfg = group_config(tmp_path, workers=1)
    cfg.model.backbone.frozen_bn, cfg.model.head.norm = True, "gn"  # as tests/engine/test_distributed.py
    save_yaml(cfg, tmp_path / "cfg.yaml")
    run = Path(cfg.train.output_dir)
    proc = start_in_own_group([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               "train.py", "--config", str(tmp_path / "cfg.yaml")],
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = signal_group_after(proc, run, steps=3)
    assert proc.returncode != 0, out  # torchrun's own code for a signalled job
    state = load_checkpoint(run / "last.pt")
    assert state["step"] >= 3, out
    assert out.count(f"at step {state['step']}: saved {run / 'last.pt'}; continue with the same command and --resume") == 2, out
    assert "DataLoader worker" not in out, out
    assert json.loads((run / "train_log.jsonl").read_text().splitlines()[-1])["step"] == state["step"]
