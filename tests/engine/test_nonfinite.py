"""A non-finite loss or gradient: stop with the step, loss terms and image ids, keeping the last
good checkpoint; or skip such steps up to train.skip_nonfinite."""

import json

import pytest
import torch

from detector.core.checkpoint import load_checkpoint
from detector.engine.setup import build_trainer
from detector.engine.trainer import NonFiniteLossError, Trainer
from tests.conftest import tiny_config


def poisoned(trainer: Trainer, bad_steps: set[int]) -> Trainer:
    """Make the loss NaN on the given (1-based) steps."""
    real = trainer.criterion

    class Poisoned:
        def __call__(self, preds, targets):
            losses, stats = real(preds, targets)
            if trainer.step + 1 in bad_steps:
                losses["loss_cls"] = losses["loss_cls"] * float("nan")
            return losses, stats

        def state_dict(self):
            return real.state_dict()

        def rollback(self, skip):
            real.rollback(skip)

    trainer.criterion = Poisoned()
    return trainer


def config(tmp_path, skip: int = 0):
    cfg = tiny_config(tmp_path)
    cfg.solver.max_iters, cfg.train.checkpoint_period, cfg.train.skip_nonfinite = 5, 1, skip
    return cfg


def records(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "run" / "nonfinite.jsonl").read_text().splitlines()]


def test_nan_loss_stops_naming_step_terms_and_images(tmp_path):
    trainer = poisoned(build_trainer(config(tmp_path)), {3})
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 3 \(loss_cls=nan, loss_box=[0-9.]+, grad_norm=nan\)"):
        trainer.fit()
    [record] = records(tmp_path)
    assert record["step"] == 3 and record["what"] == "loss" and len(record["image_ids"]) == 4
    assert all(isinstance(i, int) for i in record["image_ids"])
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2  # the last good state, untouched


def test_skip_nonfinite_skips_without_updating(tmp_path):
    trainer = poisoned(build_trainer(config(tmp_path, skip=1)), {3})
    weights = {}

    def snapshot(step: int):
        weights[step] = [p.detach().clone() for p in trainer.model.parameters()]

    original = trainer.train_step

    def step_and_snapshot(images, targets):
        out = original(images, targets)
        snapshot(trainer.step + 1)
        return out

    trainer.train_step = step_and_snapshot
    trainer.fit()
    assert trainer.step == 5 and trainer.skipped == 1
    assert all(torch.equal(a, b) for a, b in zip(weights[2], weights[3]))  # step 3 changed nothing
    assert not all(torch.equal(a, b) for a, b in zip(weights[3], weights[4]))  # step 4 did
    assert load_checkpoint(tmp_path / "run" / "last.pt")["skipped_steps"] == 1
    assert [r["step"] for r in records(tmp_path)] == [3]


def test_skips_beyond_the_limit_stop(tmp_path):
    trainer = poisoned(build_trainer(config(tmp_path, skip=1)), {2, 4})
    with pytest.raises(NonFiniteLossError, match="at step 4.*train.skip_nonfinite"):
        trainer.fit()
    assert [r["step"] for r in records(tmp_path)] == [2, 4]


def test_nonfinite_gradient_stops(tmp_path):
    trainer = build_trainer(config(tmp_path))
    weight = next(trainer.model.parameters())
    weight.register_hook(lambda g: g * float("inf") if trainer.step == 1 else g)
    with pytest.raises(NonFiniteLossError, match="non-finite gradient at step 2 .*grad_norm=(inf|nan)"):
        trainer.fit()
    assert records(tmp_path)[0]["what"] == "gradient"


def test_verdicts_are_read_at_the_next_synchronisation_point(tmp_path):
    cfg = config(tmp_path)
    cfg.train.checkpoint_period, cfg.train.log_period = 100, 100  # the run's end is the only sync point
    trainer = poisoned(build_trainer(cfg), {2})
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 2 .*its update was not applied"):
        trainer.fit()
    assert trainer.step == 5 and [r["step"] for r in records(tmp_path)] == [2]
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())  # the update was skipped


def test_a_skipped_first_step_leaves_weights_and_momentum_untouched(tmp_path):
    trainer = poisoned(build_trainer(config(tmp_path, skip=1)), {1})
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(*next(iter(trainer.batches())))
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    buffers = [trainer.optimizer.state[p]["momentum_buffer"] for p in trainer.model.parameters() if p.requires_grad]
    assert buffers and all(not b.any() for b in buffers)
    trainer.settle()
    assert trainer.skipped == 1 and [r["step"] for r in records(tmp_path)] == [1]
