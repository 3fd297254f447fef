"""train.ema_decay: the average's arithmetic, what is evaluated and saved, and exact resume with it."""

import math

import pytest
import torch
from torch import nn

from detector.core.checkpoint import load_checkpoint
from detector.engine.ema import ModelEMA
from detector.engine.setup import build_trainer
from tests.engine.test_resume import resume_config


def test_the_average_moves_by_one_minus_the_ramped_decay():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    ema = ModelEMA(model, decay=0.9, tau=2.0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(2, 3, 8, 8))  # BatchNorm statistics and its integer counter move
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1 / 2.0))
    now = model.state_dict()
    for key, value in ema.module.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, d * start[key] + (1 - d) * now[key])
        else:
            assert torch.equal(value, now[key])  # num_batches_tracked is copied
    assert not any(p.requires_grad for p in ema.module.parameters()) and not ema.module.training


@pytest.mark.parametrize("workers", [0])
def test_a_run_with_an_ema_evaluates_and_saves_it_and_resumes_exactly(tmp_path, workers):
    def config(name):
        cfg = resume_config(tmp_path, name, workers)
        cfg.train.ema_decay, cfg.train.ema_tau = 0.9, 3.0
        return cfg

    straight = build_trainer(config("straight"))
    straight.fit(until=7)
    assert straight.evaluated is straight.ema.module
    state = load_checkpoint(tmp_path / "straight" / "last.pt")
    assert state["ema"] == {"updates": 7}
    for key, value in straight.ema.module.state_dict().items():
        assert torch.equal(state["model"][key], value)  # "model" is the average: what load() and eval use
        assert torch.equal(state["train_model"][key], straight.model.state_dict()[key])
    assert any(not torch.equal(state["model"][k], state["train_model"][k]) for k in state["model"])

    first = build_trainer(config("split"))
    first.fit(until=3)
    second = build_trainer(config("split"), initialise=False)
    second.resume(tmp_path / "split" / "last.pt")
    second.fit(until=7)
    for mine, theirs in ((second.model, straight.model), (second.ema.module, straight.ema.module)):
        for key, value in theirs.state_dict().items():
            assert torch.equal(value, mine.state_dict()[key]), key
