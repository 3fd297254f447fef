"""Exact resume: N steps straight and k steps, stop, resume to N give bit-identical weights."""

import numpy as np
import pytest
import torch

from detector.core.checkpoint import load_checkpoint
from detector.core.config import AugmentConfig
from detector.core.rng import get_rng_state, set_rng_state
from detector.data.build import build_dataset
from detector.data.transforms import DetectionTransform
from detector.engine.setup import build_trainer
from tests.conftest import tiny_config


def resume_config(tmp_path, name: str, workers: int):
    cfg = tiny_config(tmp_path)
    cfg.train.output_dir = str(tmp_path / name)
    cfg.train.num_workers, cfg.train.checkpoint_period = workers, 1000
    cfg.solver.max_iters, cfg.solver.optimizer, cfg.solver.lr = 7, "adamw", 0.001
    cfg.augment.hflip_prob, cfg.augment.color_jitter_prob = 0.5, 0.5  # random augmentation on
    cfg.augment.crop_prob, cfg.augment.scale_range = 0.5, [0.7, 1.4]  # box-safe crops, multi-scale batches
    cfg.augment.mosaic_prob = 0.5
    cfg.loss.normalizer_momentum = 0.9  # criterion state that must survive the restart too
    return cfg


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_and_resume_is_bit_identical(tmp_path, workers):
    straight = build_trainer(resume_config(tmp_path, "straight", workers))
    straight.fit(until=7)

    first = build_trainer(resume_config(tmp_path, "split", workers))
    first.fit(until=3)  # 2 batches per epoch: stops in the middle of the second epoch
    state = load_checkpoint(tmp_path / "split" / "last.pt")
    assert state["step"] == 3 and state["data"] == {"epoch": 1, "batch": 1, "batches_per_epoch": 2}
    assert {"model", "optimizer", "scheduler", "scaler", "criterion", "rng", "config", "cat_ids"} <= set(state)
    second = build_trainer(resume_config(tmp_path, "split", workers), initialise=False)
    second.resume(tmp_path / "split" / "last.pt")
    second.fit(until=7)

    assert second.step == straight.step == 7
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    adam_a, adam_b = straight.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    assert all(torch.equal(adam_a[i]["exp_avg"], adam_b[i]["exp_avg"]) for i in adam_a)
    assert straight.criterion.normalizer_ema == second.criterion.normalizer_ema


def test_augmentation_depends_on_seed_epoch_index_only(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.augment.hflip_prob, cfg.augment.color_jitter_prob = 0.5, 1.0
    data = build_dataset(cfg, "train")
    data.augment_seed = 0
    a = data[3, 5][0]  # epoch 3, item 5
    data[3, 2], data[3, 6]  # other items in between change nothing
    assert torch.equal(a, data[3, 5][0])
    assert not torch.equal(a, data[4, 5][0])  # a new epoch, a new draw
    data.augment_seed = 1
    assert not torch.equal(a, data[3, 5][0])  # another seed, another draw


def test_each_transform_gets_its_own_stream():
    aug = DetectionTransform(AugmentConfig(image_size=32, hflip_prob=0.5, color_jitter_prob=0.5), train=True)
    aug.reseed(123)
    seeds = [t.seed for t in aug.pipeline.transforms]
    assert len(set(seeds)) == len(seeds)
    # flip and jitter decisions are independent: over many seeds all four combinations occur
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :8] = 200
    seen = set()
    for seed in range(40):
        out = aug(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), seed=seed)[0]
        flipped = bool(out[:, :, -1].sum() > out[:, :, 0].sum())
        jittered = not torch.equal(out.max(), torch.tensor(200 / 255))
        seen.add((flipped, jittered))
    assert len(seen) == 4


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(1)
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), __import__("random").random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_resume_from_another_architecture_is_one_clear_error(tmp_path, capsys):
    import train
    from detector.core.config import save_yaml

    cfg = resume_config(tmp_path, "arch", 0)
    cfg.solver.max_iters = 1
    build_trainer(cfg).fit(until=1)
    cfg.model.fpn_channels = 48  # a different model, same run folder
    save_yaml(cfg, tmp_path / "other.yaml")
    assert train.main(["--config", str(tmp_path / "other.yaml"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "last.pt' does not fit this run's model" in err and "--init-from" in err
    assert "Traceback" not in err
