"""DistributedDataParallel on the CPU with gloo: two processes under torchrun against one process
with the same global batch."""

import json
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
import torch

from detector.core.config import save_yaml
from detector.core.distributed import DistInfo
from detector.data.build import TrainingOrder, shard_order
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]
STEPS = 4
# Same global batch, same images, same augmentation: the only difference is the floating-point
# order of the gradient sums (per process, then all-reduced), so losses agree to float32 noise
LOSS_RTOL = 1e-5  # measured: 1.4e-7 relative; weights 2.5e-6 apart after 4 steps


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def ddp_config(tmp_path: Path, name: str):
    cfg = tiny_config(tmp_path)
    cfg.train.output_dir = str(tmp_path / name)
    cfg.model.backbone.frozen_bn = True  # BatchNorm statistics would differ per process (no SyncBN on CPU)
    cfg.model.head.norm = "gn"
    cfg.train.log_period, cfg.train.checkpoint_period = 1, 1000
    cfg.solver.max_iters = 8
    return cfg


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss/total"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_shard_order_splits_each_global_batch():
    order = list(range(10, 22))  # 12 items, global batch 4 -> 3 batches
    r0, r1 = shard_order(order, 4, 0, 2, drop_last=True), shard_order(order, 4, 1, 2, drop_last=True)
    assert r0 == [10, 11, 14, 15, 18, 19] and r1 == [12, 13, 16, 17, 20, 21]
    assert shard_order(order[:11], 4, 1, 2, drop_last=True) == [12, 13, 16, 17]  # last partial batch dropped
    assert shard_order(order[:5], 4, 0, 2, drop_last=False) == [10, 12, 14]  # evaluation: round robin


def test_training_order_streams_whole_batches_across_epochs_resumes_and_shards():
    stream = list(islice(TrainingOrder(10, 4, seed=3), 16))  # 2 full batches per epoch: 8 items each
    for epoch in (0, 1):
        perm = torch.randperm(10, generator=torch.Generator().manual_seed(3 * 100_003 + epoch)).tolist()
        assert stream[8 * epoch:8 * epoch + 8] == [(epoch, i) for i in perm[:8]]
    assert list(islice(TrainingOrder(10, 4, seed=3, start=3), 4)) == stream[12:16]  # resumed 3 batches in
    halves = [list(islice(TrainingOrder(10, 4, seed=3, rank=r, world=2), 8)) for r in (0, 1)]
    assert halves[0][:2] + halves[1][:2] + halves[0][2:4] + halves[1][2:4] == stream[:8]
    with pytest.raises(ValueError, match="train.batch_size 16 exceeds the 10 training images"):
        TrainingOrder(10, 16, seed=0)


def test_two_gloo_processes_match_one_process(tmp_path):
    ddp = ddp_config(tmp_path, "ddp")
    save_yaml(ddp, tmp_path / "ddp.yaml")
    out = tmp_path / "out"
    out.mkdir()
    proc = torchrun("tests/engine/ddp_worker.py", str(tmp_path / "ddp.yaml"), str(STEPS), str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["world"] == 2
    for key, value in rank0["model"].items():  # DDP keeps the replicas bit-identical
        assert torch.equal(value, rank1["model"][key]), key
    assert rank0["stats"] == rank1["stats"]  # evaluation gathered across ranks: same metrics on both

    single = build_trainer(ddp_config(tmp_path, "single"))
    single.fit(until=STEPS)
    ddp_losses, one_losses = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert len(ddp_losses) == len(one_losses) == STEPS
    assert ddp_losses == pytest.approx(one_losses, rel=LOSS_RTOL)
    # and the weights stay close to the one-process weights after STEPS updates
    for key, value in single.model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(rank0["model"][key], value, rtol=1e-3, atol=1e-4, msg=key)
    # the gathered evaluation is the one-process evaluation of the same weights
    single.model.load_state_dict(rank0["model"])
    assert single.evaluate().stats == pytest.approx(rank0["stats"], abs=1e-9)


def test_train_py_under_torchrun_writes_once(tmp_path):
    cfg = ddp_config(tmp_path, "cli")
    cfg.solver.max_iters = 2
    save_yaml(cfg, tmp_path / "cli.yaml")
    proc = torchrun("train.py", "--config", str(tmp_path / "cli.yaml"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("run folder:") == 1 and proc.stdout.count("metrics:") == 1
    run = tmp_path / "cli"
    assert json.loads((run / "metrics.json").read_text())["step"] == 2
    assert (run / "last.pt").is_file() and len(losses(run)) == 2


def test_global_batch_must_divide_by_processes(tmp_path, monkeypatch):
    cfg = ddp_config(tmp_path, "bad")
    cfg.train.batch_size = 3
    monkeypatch.setattr("detector.engine.setup.current", lambda: DistInfo(rank=0, world=2))
    with pytest.raises(ValueError, match="train.batch_size 3 is the global batch.*2 processes"):
        build_trainer(cfg)


def test_sync_bn_on_cpu_is_a_clear_error(tmp_path):
    cfg = ddp_config(tmp_path, "sync")
    cfg.train.sync_bn, cfg.train.device = True, "cpu"
    with pytest.raises(ValueError, match="train.sync_bn needs CUDA"):
        build_trainer(cfg)
