"""Every classification loss survives a bad step: NaN / inf logits give a non-finite loss that the
trainer's policy skips, with the loss's state (GHM's histogram, EFL's gradient statistics, the
normaliser's EMA) exactly as before the step; and every piece of loss state round-trips through a
checkpoint."""

import copy
import dataclasses

import pytest
import torch

from detector.core.boxes import BoxCoder, Matcher
from detector.core.config import LossConfig, MatcherConfig
from detector.engine.setup import build_trainer
from detector.losses.classification import CLASSIFICATION_LOSSES, GHMC
from detector.losses.criterion import RetinaNetLoss, build_criterion
from detector.losses.functional import focal_loss_from_labels, sigmoid_focal_loss
from tests.conftest import tiny_config

CLASS_COUNTS = [5, 2, 1]  # training boxes per class, for loss.class_alpha


def loss_config(name: str) -> LossConfig:
    """``loss.cls=name`` with its state switched on: per-class alpha where the loss takes it, and the
    normaliser's EMA."""
    alpha = "inverse_frequency" if name in ("focal", "balanced_ce") else "none"
    return dataclasses.replace(LossConfig(), cls=name, class_alpha=alpha, normalizer_momentum=0.9)


def same_state(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) if a[k] is not None else b[k] is None
               for k in a)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("bad_steps"))
    cfg.train.skip_nonfinite = 1000
    trainer = build_trainer(cfg)
    return trainer, copy.deepcopy(trainer.state_dict())


@pytest.fixture
def trainer(built):
    """One trainer for every case (built once), back at its start: each loss trains the same model."""
    trainer, start = built
    trainer.model.load_state_dict(start["model"])
    trainer.optimizer.load_state_dict(start["optimizer"])
    trainer.scheduler.load_state_dict(start["scheduler"])
    trainer.step = trainer.skipped = 0
    return trainer


@pytest.mark.parametrize("bad", ["nan", "inf"])
@pytest.mark.parametrize("name", sorted(CLASSIFICATION_LOSSES))
def test_a_nonfinite_step_is_skipped_with_the_loss_state_unchanged(trainer, name, bad):
    trainer.criterion = build_criterion(loss_config(name), trainer.cfg.matcher, CLASS_COUNTS)
    model, poison = trainer.model, {"on": False}

    def forward(images):
        preds = model(images)
        if poison["on"]:  # image 0: one NaN logit, or +inf on every (mostly background) logit
            mask = torch.zeros_like(preds["cls_logits"], dtype=torch.bool)
            mask[0, :1, :1] = True
            if bad == "inf":
                mask[0] = True
            preds["cls_logits"] = preds["cls_logits"].masked_fill(mask, float(bad))
        return preds

    trainer.forward = forward
    batches = trainer.batches()
    for _ in range(2):  # the state accumulates over good steps first
        trainer.train_step(*next(batches))
        trainer.step += 1
    trainer.settle()
    state, weights, skipped = trainer.criterion.state_dict(), [p.detach().clone() for p in model.parameters()], trainer.skipped
    poison["on"] = True
    losses, _ = trainer.train_step(*next(batches))
    trainer.step += 1
    assert not torch.isfinite(losses["loss_cls"])
    trainer.settle()
    assert trainer.skipped == skipped + 1
    assert same_state(trainer.criterion.state_dict(), state)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    poison["on"] = False
    trainer.train_step(*next(batches))  # and training goes on, its state finite
    trainer.step += 1
    trainer.settle()
    assert trainer.skipped == skipped + 1
    after = trainer.criterion.state_dict()
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in after.values() if v is not None)


def test_ghm_with_a_nan_logit_stays_in_its_bins():
    ghm = GHMC(ghm_bins=4, ghm_momentum=0.0)
    logits = torch.tensor([[[float("nan")], [2.0], [-float("inf")], [float("inf")]]])
    targets = torch.zeros_like(logits)
    loss, _ = ghm.loss(logits, targets, torch.ones(1, 4, 1, dtype=torch.bool))  # no index out of bounds
    assert torch.isnan(loss)


def run_steps(criterion: RetinaNetLoss, logits: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """``steps`` calls of the classification loss with backward (EFL's statistics come from it)."""
    labels = torch.full(logits.shape[:2], -1)
    labels[:, :4] = torch.tensor([0, 1, 2, 0])[:logits.shape[1]]
    targets = torch.nn.functional.one_hot(labels.clamp(min=0), 3).float() * (labels >= 0)[..., None]
    valid = torch.ones(labels.shape, dtype=torch.bool)
    out = []
    for step in range(steps):
        x = (logits + step).requires_grad_()
        norm = criterion._normalizer((labels >= 0).sum())
        loss, _ = criterion.classification(x, labels, targets, labels >= 0, valid, norm)
        loss.backward()
        out.append(loss.detach())
    return out


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_LOSSES))
def test_every_piece_of_loss_state_round_trips_through_a_checkpoint(tmp_path, name):
    logits = torch.randn(2, 12, 3, generator=torch.Generator().manual_seed(0))
    straight = build_criterion(loss_config(name), MatcherConfig(), CLASS_COUNTS)
    expected = run_steps(straight, logits, 3)
    first = build_criterion(loss_config(name), MatcherConfig(), CLASS_COUNTS)
    run_steps(first, logits, 2)
    torch.save(first.state_dict(), tmp_path / "criterion.pt")
    restored = build_criterion(loss_config(name), MatcherConfig(), [1, 1, 1])  # other counts: the saved alpha wins
    restored.load_state_dict(torch.load(tmp_path / "criterion.pt", weights_only=True))
    assert same_state(restored.state_dict(), first.state_dict())
    # the third step from the restored state is the uninterrupted run's, bit for bit
    third = run_steps(restored, logits + 2, 1)[0]
    assert torch.equal(third, expected[2])
    assert same_state(restored.state_dict(), straight.state_dict())


def test_focal_loss_from_labels_takes_non_contiguous_logits():
    base = torch.randn(12, 2, 3, generator=torch.Generator().manual_seed(1))
    logits = base.transpose(0, 1).requires_grad_()  # (2, 12, 3), not contiguous
    labels = torch.tensor([[0, -1, 2, -1, 1, -1, -1, 0, -1, -1, 2, -1]] * 2)
    weight = torch.ones(2, 12)
    focal_loss_from_labels(logits, labels, weight).sum().backward()
    reference = logits.detach().clone().requires_grad_()
    one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), 3).float() * (labels >= 0)[..., None]
    sigmoid_focal_loss(reference, one_hot, reduction="sum").backward()
    torch.testing.assert_close(logits.grad, reference.grad)


def test_rollback_keeps_what_a_good_step_added():
    criterion = RetinaNetLoss(Matcher(0.5, 0.4), BoxCoder([1.0] * 4), GHMC(ghm_bins=2, ghm_momentum=0.5),
                              normalizer_momentum=0.5)
    logits = torch.randn(3, 1, 6, 3, generator=torch.Generator().manual_seed(2)) * 4  # one batch per step
    run_steps(criterion, logits[0], 1)
    before = criterion.state_dict()
    run_steps(criterion, logits[1], 1)
    criterion.rollback(torch.tensor(0.0))  # a good step: kept
    assert not same_state(criterion.state_dict(), before)
    kept = criterion.state_dict()
    run_steps(criterion, logits[2], 1)
    criterion.rollback(torch.tensor(1.0))  # a skipped one: undone
    assert same_state(criterion.state_dict(), kept)
