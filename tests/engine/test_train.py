"""End-to-end: the training loop learns, checkpoints, resumes and feeds focaldet eval."""

import json

import pytest
import torch

import evaluate
import train
from detector.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config


def overfit_config(tmp_path, iters: int):
    cfg = tiny_config(tmp_path)
    root = cfg.data.root
    # evaluate on the training images themselves: this test is about learning, not generalising
    cfg.data.val_images, cfg.data.val_annotations = f"{root}/train", f"{root}/annotations/train.json"
    cfg.solver.max_iters = iters
    cfg.solver.lr = 0.01
    cfg.solver.warmup_iters = 20
    cfg.solver.schedule = "cosine"
    cfg.solver.clip_grad_norm = 10.0
    cfg.augment.hflip_prob = 0.0
    cfg.train.checkpoint_period = 1000
    cfg.train.log_period = 10
    cfg.model.head.norm = "gn"
    return cfg


def test_tiny_run_overfits(tmp_path):
    cfg = overfit_config(tmp_path, iters=150)
    trainer = build_trainer(cfg)
    before = trainer.evaluate().stats["AP"]
    result = trainer.fit()
    assert before < 0.05
    assert result.stats["AP50"] > 0.5 and result.stats["AP"] > before + 0.25
    run = cfg.train.output_dir
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["AP"] == pytest.approx(result.stats["AP"])
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"} <= set(metrics)
    for name in ("config.yaml", "last.pt", "best.pt"):
        assert (tmp_path / "run" / name).is_file(), name
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "run").iterdir())
    # evaluate.py on the checkpoint reproduces the final metrics and writes results with real ids
    assert evaluate.main(["--checkpoint", f"{run}/last.pt"]) == 0
    again = json.loads((tmp_path / "run" / "eval_metrics.json").read_text())
    assert again["AP"] == pytest.approx(result.stats["AP"], abs=1e-6)
    dets = json.loads((tmp_path / "run" / "detections.json").read_text())
    assert dets and {d["category_id"] for d in dets} <= {1, 2, 3}


def test_resume_continues_from_last_checkpoint(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    overrides = [f"{k}={v}" for k, v in {
        "data.root": cfg.data.root, "data.synthetic.num_train": 8, "data.synthetic.num_val": 4,
        "data.synthetic.image_size": 96, "augment.image_size": 96, "model.backbone.name": "resnet18",
        "model.fpn_channels": 32, "model.head.num_convs": 1, "train.batch_size": 4, "train.num_workers": 0,
        "train.output_dir": cfg.train.output_dir, "train.checkpoint_period": 2, "solver.max_iters": 2,
        "train.vis_images": 0,
    }.items()]
    assert train.main(["--config", "configs/shapes_focal.yaml", *overrides]) == 0
    first = load_checkpoint(tmp_path / "run" / "last.pt")
    assert first["step"] == 2
    assert train.main(["--config", "configs/shapes_focal.yaml", "--resume", *overrides[:-2],
                       "solver.max_iters=4", "train.vis_images=0"]) == 0
    assert "resumed from" in capsys.readouterr().out
    second = load_checkpoint(tmp_path / "run" / "last.pt")
    assert second["step"] == 4
    assert not torch.equal(first["model"]["cls_head.out.weight"], second["model"]["cls_head.out.weight"])


def test_train_cli_config_errors(tmp_path, capsys):
    assert train.main(["solver.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'solver.lrr'" in err and "valid keys here:" in err


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "config": {}}, path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint({"model": {"w": torch.zeros(2)}, "config": {}}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))  # old one intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="last.pt"):
        load_checkpoint(path)
