"""The CUDA path: mixed-precision steps against fp32, DDP over NCCL, export from a GPU model.
Marked ``cuda``; they skip on machines without a GPU (``bash benchmarks/gpu.sh`` runs them first)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from detector.cli.main import main as cli
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
ROOT = Path(__file__).resolve().parents[2]


def first_losses(tmp_path: Path, amp: str) -> dict[str, float]:
    cfg = tiny_config(tmp_path / amp)
    cfg.train.device, cfg.train.amp = "cuda", amp
    trainer = build_trainer(cfg)
    images, targets = next(iter(trainer.batches()))
    losses, _ = trainer.train_step(images, targets)
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    return {k: float(v) for k, v in losses.items()}


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_step_matches_fp32(tmp_path, amp):
    reference, mixed = first_losses(tmp_path, "none"), first_losses(tmp_path, amp)
    for key, value in reference.items():
        assert mixed[key] == pytest.approx(value, rel=0.05), key


def test_train_py_under_torchrun_with_nccl(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.train.device, cfg.train.batch_size = "cuda", 2 * torch.cuda.device_count()
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torch.cuda.device_count()}",
           "train.py", "--config", str(tmp_path / "cfg.yaml")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_export_from_a_gpu_model(tmp_path):
    pytest.importorskip("onnxruntime")
    cfg = tiny_config(tmp_path)
    cfg.train.device = "cuda"
    trainer = build_trainer(cfg)
    trainer.fit()
    image = next((tmp_path / "shapes" / "val").glob("*.png"))
    assert cli(["export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--output", str(tmp_path / "m.onnx"),
                "--check", str(image)]) == 0


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_training_steps_do_not_synchronise(tmp_path, amp):
    cfg = tiny_config(tmp_path)
    cfg.train.device, cfg.train.amp, cfg.loss.normalizer_momentum = "cuda", amp, 0.9
    trainer = build_trainer(cfg)
    batches = iter(trainer.batches())
    trainer.train_step(*next(batches))  # the first step sets up kernels and allocator pools
    torch.cuda.synchronize()
    for _ in range(3):
        batch = next(batches)
        torch.cuda.set_sync_debug_mode("error")  # any device -> host wait raises
        try:
            trainer.train_step(*batch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        trainer.step += 1
    trainer.settle()
    assert trainer.skipped == 0
