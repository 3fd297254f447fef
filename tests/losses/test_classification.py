"""The study's loss variants against their papers' formulas, written out by hand."""

import math
import typing

import pytest
import torch
import torch.nn.functional as F

from detector.core.boxes import BoxCoder, Matcher
from detector.core.config import ConfigError, LossConfig, MatcherConfig
from detector.losses.classification import CLASSIFICATION_LOSSES, GHMC
from detector.losses.criterion import RetinaNetLoss, build_criterion, classification_loss
from detector.losses.functional import ohem_keep, quality_focal_loss, sigmoid_focal_loss


def test_quality_focal_loss_is_the_gfl_formula():
    x = torch.tensor([-2.0, 0.3, 1.5, 4.0])
    y = torch.tensor([0.0, 0.7, 1.0, 0.2])
    s = torch.sigmoid(x)
    paper = -(y - s).abs() ** 2 * ((1 - y) * torch.log(1 - s) + y * torch.log(s))
    torch.testing.assert_close(quality_focal_loss(x, y, beta=2.0), paper)
    # with hard {0, 1} targets and beta = gamma it is focal loss without alpha
    hard = torch.tensor([0.0, 1.0, 1.0, 0.0])
    torch.testing.assert_close(quality_focal_loss(x, hard, 2.0), sigmoid_focal_loss(x, hard, alpha=-1, gamma=2.0))


def test_ghm_c_is_the_paper_formula():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3) * 3
    targets = (torch.rand(2, 5, 3) < 0.2).float()
    valid = torch.ones(2, 5, 1, dtype=torch.bool)
    valid[1, 4] = False  # an ignored anchor: no weight, not counted in N
    loss, _ = GHMC(ghm_bins=4, ghm_momentum=0.0).loss(logits, targets, valid)
    # by hand: g = |p - y|, R = elements in g's bin, GD = R * M, beta = N / GD, L = sum(beta CE) / N
    g = (torch.sigmoid(logits) - targets).abs()[valid.expand_as(logits)]
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")[valid.expand_as(logits)]
    n, m = g.numel(), 4
    bin_of = [min(int(v * m), m - 1) for v in g.tolist()]
    counts = [bin_of.count(b) for b in range(m)]
    expected = sum(n / (counts[b] * m) * c for b, c in zip(bin_of, ce.tolist())) / n
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_ghm_c_momentum_averages_the_histogram():
    ghm = GHMC(ghm_bins=2, ghm_momentum=0.5)
    valid = torch.ones(1, 2, 1, dtype=torch.bool)
    ghm.weights(torch.tensor([[[-9.0], [-9.0]]]), torch.zeros(1, 2, 1), valid)  # both easy: bin 0
    w = ghm.weights(torch.tensor([[[9.0], [-9.0]]]), torch.zeros(1, 2, 1), valid)  # one hard, one easy
    torch.testing.assert_close(ghm.acc_counts, torch.tensor([1.5, 0.5]))
    torch.testing.assert_close(w.flatten(), torch.tensor([2 / (0.5 * 2), 2 / (1.5 * 2)]))


def test_ohem_keeps_positives_and_the_hardest_negatives_per_image():
    loss = torch.tensor([[0.1, 5.0, 0.2, 3.0, 0.9, 4.0, 9.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]])
    positive = torch.tensor([[True, False, False, False, False, False, False], [False] * 7])
    ignored = torch.tensor([[False, False, False, False, False, False, True], [False] * 7])
    keep = ohem_keep(loss, positive, ~positive & ~ignored, ratio=3)
    # image 0: the positive + 3 hardest negatives (5, 4, 3), never the ignored anchor (9)
    assert keep[0].tolist() == [True, True, False, True, False, True, False]
    # image 1: no positive: ratio * 1 hardest negatives
    assert keep[1].tolist() == [False, False, False, False, True, True, True]


@pytest.mark.parametrize("cls_loss", sorted(CLASSIFICATION_LOSSES))
def test_every_variant_trains_through_the_criterion(cls_loss):
    torch.manual_seed(0)
    anchors = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 30, 30]])
    logits = torch.randn(2, 4, 3, requires_grad=True)
    deltas = (torch.randn(2, 4, 4) * 0.1).requires_grad_()
    targets = {"boxes": torch.tensor([[[0.0, 0, 10, 11]], [[21, 20, 30, 30]]]), "labels": torch.tensor([[2], [0]]),
               "valid": torch.ones(2, 1, dtype=torch.bool), "crowd": torch.zeros(2, 1, dtype=torch.bool)}
    crit = RetinaNetLoss(Matcher(), BoxCoder([1.0] * 4), classification_loss(cls_loss))
    losses, stats = crit({"cls_logits": logits, "box_deltas": deltas, "anchors": anchors}, targets)
    assert all(math.isfinite(v.item()) for v in losses.values()) and losses["loss_cls"] > 0
    sum(losses.values()).backward()
    assert logits.grad.abs().sum() > 0 and stats["num_pos"].tolist() == [1, 1]


def test_balanced_ce_is_focal_with_gamma_zero():
    torch.manual_seed(1)
    preds = {"cls_logits": torch.randn(1, 4, 2), "box_deltas": torch.zeros(1, 4, 4),
             "anchors": torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 30, 30]])}
    targets = {"boxes": torch.tensor([[[0.0, 0, 10, 10]]]), "labels": torch.tensor([[1]]),
               "valid": torch.ones(1, 1, dtype=torch.bool), "crowd": torch.zeros(1, 1, dtype=torch.bool)}
    a, _ = RetinaNetLoss(Matcher(), BoxCoder([1.0] * 4), classification_loss("balanced_ce", alpha=0.75))(preds, targets)
    b, _ = RetinaNetLoss(Matcher(), BoxCoder([1.0] * 4), classification_loss("focal", alpha=0.75, gamma=0.0))(preds, targets)
    torch.testing.assert_close(a["loss_cls"], b["loss_cls"])


def test_each_loss_takes_only_its_own_parameters():
    assert classification_loss("focal", alpha=0.5, gamma=1.0).gamma == 1.0
    with pytest.raises(ConfigError, match="loss.cls=bce does not use loss.gamma .it takes no parameters"):
        classification_loss("bce", gamma=1.0)
    with pytest.raises(ConfigError, match="loss.cls 'fcoal' is not one of"):
        classification_loss("fcoal")
    # from config: a parameter of another loss left at its default is fine, changed it is an error
    assert build_criterion(LossConfig(cls="ohem", ohem_ratio=2.0), MatcherConfig()).classification.ratio == 2.0
    build_criterion(LossConfig(cls="bce"), MatcherConfig())
    with pytest.raises(ConfigError, match=r"loss.cls=bce does not use loss.gamma=1.0"):
        build_criterion(LossConfig(cls="bce", gamma=1.0), MatcherConfig())
    with pytest.raises(ConfigError, match=r"loss.cls=balanced_ce does not use loss.gamma=0.0 .it takes loss.alpha"):
        build_criterion(LossConfig(cls="balanced_ce", gamma=0.0), MatcherConfig())


def test_class_alpha_weighs_each_class_positives_in_value_and_gradient():
    from detector.losses.functional import focal_loss_from_labels, inverse_frequency_weights, sigmoid_focal_loss

    assert inverse_frequency_weights([90, 9, 1, 0]) == pytest.approx([100 / 360, 100 / 36, 100 / 4, 1.0])
    torch.manual_seed(0)
    logits = (torch.randn(2, 30, 3, dtype=torch.float64) * 3).requires_grad_()
    labels = torch.randint(-1, 3, (2, 30))
    weight = torch.ones(2, 30, dtype=torch.float64)
    w = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)
    one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), 3).double() * (labels >= 0)[..., None]
    pos = sigmoid_focal_loss(logits, one_hot, 0.25, 2.0) * one_hot * w  # class k's positives times w_k
    neg = sigmoid_focal_loss(logits, one_hot, 0.25, 2.0) * (1 - one_hot)
    reference = (pos + neg).sum(-1)
    ours = focal_loss_from_labels(logits, labels, weight, 0.25, 2.0, class_weight=w)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    want, = torch.autograd.grad(reference.sum(), logits)
    got, = torch.autograd.grad(ours.sum(), logits)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_class_alpha_config_is_resolved_from_the_training_counts():
    with pytest.raises(ConfigError, match="loss.cls=bce does not use loss.class_alpha=inverse_frequency"):
        build_criterion(LossConfig(cls="bce", class_alpha="inverse_frequency"), MatcherConfig())
    with pytest.raises(ValueError, match="needs the training set's boxes per class"):
        build_criterion(LossConfig(class_alpha="inverse_frequency"), MatcherConfig())
    crit = build_criterion(LossConfig(class_alpha="inverse_frequency"), MatcherConfig(), class_counts=[90, 9, 1])
    assert crit.classification.state_dict()["class_alpha"] == pytest.approx([100 / 270, 100 / 27, 100 / 3])
    assert build_criterion(LossConfig(), MatcherConfig()).classification.class_weight is None


def test_efl_starts_as_focal_loss_then_focuses_the_class_with_little_positive_gradient():
    from detector.losses.classification import EqualizedFocalLoss

    torch.manual_seed(0)
    logits = (torch.randn(2, 40, 3) * 2).requires_grad_()
    labels = torch.full((2, 40), -1)
    labels[:, :6] = 0  # class 0: many positives; class 2: one
    labels[0, 6] = 2
    targets = F.one_hot(labels.clamp(min=0), 3).float() * (labels >= 0)[..., None]
    valid = torch.ones(2, 40, dtype=torch.bool)
    norm = torch.tensor(13.0)
    efl = EqualizedFocalLoss(alpha=0.25, gamma=2.0, efl_scale=8.0)
    loss, _ = efl(logits, labels, targets, labels >= 0, valid, norm)
    torch.testing.assert_close(loss, sigmoid_focal_loss(logits, targets, 0.25, 2.0, "sum") / norm)  # g_j = 1 at first
    loss.backward()
    grad = logits.grad.abs()  # what the hook collected: |d loss / d logit| by class, positives / negatives
    torch.testing.assert_close(efl.grads, torch.stack([(grad * targets).sum((0, 1)), (grad * (1 - targets)).sum((0, 1))]))
    g = (efl.grads[0] / efl.grads[1]).clamp(0, 1)
    gamma = 2.0 + 8.0 * (1 - g)
    assert gamma[2] > gamma[0] > 2.0 and gamma[1] == 10.0  # no positive at all: the most focus
    second, _ = efl(logits.detach(), labels, targets, labels >= 0, valid, norm)
    by_hand = sum((gamma[k] / 2.0) * sigmoid_focal_loss(logits.detach()[..., k], targets[..., k], 0.25, float(gamma[k]),
                                                        "sum") for k in range(3)) / norm
    torch.testing.assert_close(second, by_hand)
    restored = EqualizedFocalLoss()
    restored.load_state_dict(efl.state_dict())
    torch.testing.assert_close(restored.grads, efl.grads)


def test_the_config_offers_exactly_the_losses_of_the_table():
    assert set(typing.get_args(typing.get_type_hints(LossConfig)["cls"])) == set(CLASSIFICATION_LOSSES)
