import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as tv_focal

from detector.core.boxes import BoxCoder, Matcher
from detector.losses.criterion import RetinaNetLoss, classification_loss
from detector.losses.functional import focal_loss_from_labels, sigmoid_focal_loss, smooth_l1_loss


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.5, 1.0), (-1.0, 0.0), (0.75, 0.5)])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_focal_equals_torchvision(alpha, gamma, reduction):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 100, 3, generator=g) * 4
    targets = (torch.rand(4, 100, 3, generator=g) > 0.9).float()
    ours = sigmoid_focal_loss(logits, targets, alpha, gamma, reduction)
    ref = tv_focal(logits, targets, alpha, gamma, reduction)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)


def test_bce_path_is_plain_binary_cross_entropy():
    logits = torch.linspace(-8, 8, 33)
    targets = (torch.arange(33) % 3 == 0).float()
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0, reduction="sum"),
                               F.binary_cross_entropy_with_logits(logits, targets, reduction="sum"))


def test_focal_hand_value():
    # p = sigmoid(0) = 0.5 for a positive: 0.25 * 0.5^2 * log(2)
    value = sigmoid_focal_loss(torch.zeros(1), torch.ones(1), 0.25, 2.0)
    assert value.item() == pytest.approx(0.25 * 0.25 * math.log(2), abs=1e-7)


def test_smooth_l1_beta_zero_is_l1():
    a, b = torch.randn(10, 4), torch.randn(10, 4)
    torch.testing.assert_close(smooth_l1_loss(a, b, 0.0, "sum"), (a - b).abs().sum())


def make_batch(boxes_per_image: list[list[list[float]]], num_classes: int = 2):
    anchors = torch.tensor([[x, y, x + 16, y + 16] for y in range(0, 64, 8) for x in range(0, 64, 8)], dtype=torch.float)
    n, a = len(boxes_per_image), len(anchors)
    m = max(len(b) for b in boxes_per_image)
    boxes = torch.zeros(n, m, 4)
    valid = torch.zeros(n, m, dtype=torch.bool)
    for i, bs in enumerate(boxes_per_image):
        if bs:
            boxes[i, : len(bs)] = torch.tensor(bs)
            valid[i, : len(bs)] = True
    targets = {"boxes": boxes, "labels": torch.ones(n, m, dtype=torch.long), "valid": valid,
               "crowd": torch.zeros(n, m, dtype=torch.bool)}
    g = torch.Generator().manual_seed(1)
    preds = {"cls_logits": torch.randn(n, a, num_classes, generator=g, requires_grad=True),
             "box_deltas": torch.randn(n, a, 4, generator=g, requires_grad=True), "anchors": anchors}
    return preds, targets


@pytest.mark.parametrize("box_loss", ["smooth_l1", "l1", "giou"])
def test_image_without_boxes_gives_zero_box_loss(box_loss):
    preds, targets = make_batch([[]])
    crit = RetinaNetLoss(Matcher(), BoxCoder(), box_loss=box_loss)
    losses, stats = crit(preds, targets)
    assert losses["loss_box"].item() == 0.0
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"].item() > 0
    assert stats["num_pos"].tolist() == [0]
    (losses["loss_cls"] + losses["loss_box"]).backward()
    assert preds["cls_logits"].grad.abs().sum() > 0  # background is still learned


def test_criterion_matches_manual_computation():
    preds, targets = make_batch([[[0, 0, 16, 16.0], [30, 30, 47, 45.0]], []])
    crit = RetinaNetLoss(Matcher(0.5, 0.4, allow_low_quality=False), BoxCoder(),
                         classification_loss("focal", alpha=0.25, gamma=2.0), box_loss="l1")
    losses, stats = crit(preds, targets)
    matches = Matcher(0.5, 0.4, allow_low_quality=False)(preds["anchors"], targets["boxes"], targets["valid"])
    pos = matches >= 0
    target = torch.zeros_like(preds["cls_logits"])
    target[..., 1] = pos.float()  # every box has label 1
    keep = matches != -2
    num_pos = pos.sum().item()
    expected_cls = tv_focal(preds["cls_logits"][keep], target[keep], 0.25, 2.0, "sum") / num_pos
    torch.testing.assert_close(losses["loss_cls"], expected_cls)
    matched = targets["boxes"][0][matches[0][pos[0]]]
    enc = BoxCoder().encode(matched, preds["anchors"][pos[0]])
    expected_box = (preds["box_deltas"][0][pos[0]] - enc).abs().sum() / num_pos
    torch.testing.assert_close(losses["loss_box"], expected_box)
    assert stats["num_pos"].tolist() == [num_pos, 0]


def test_bce_criterion_has_no_alpha_or_gamma():
    preds, targets = make_batch([[[0, 0, 16, 16.0]]])
    bce = RetinaNetLoss(Matcher(), BoxCoder(), classification_loss("bce"))
    focal0 = RetinaNetLoss(Matcher(), BoxCoder(), classification_loss("focal", alpha=-1.0, gamma=0.0))
    torch.testing.assert_close(bce(preds, targets)[0]["loss_cls"], focal0(preds, targets)[0]["loss_cls"])


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1.0, 0.0), (0.75, 0.0), (0.25, 0.5), (-1.0, 2.0)])
def test_focal_from_labels_equals_the_one_hot_form_in_value_and_gradient(alpha, gamma):
    torch.manual_seed(0)
    logits = (torch.randn(3, 50, 4, dtype=torch.float64) * 4).requires_grad_()
    labels = torch.randint(-1, 4, (3, 50))
    weight = (torch.rand(3, 50) > 0.2).double()  # ignored anchors: weight 0
    one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), 4).double() * (labels >= 0)[..., None]
    reference = sigmoid_focal_loss(logits, one_hot, alpha, gamma).sum(-1) * weight
    ours = focal_loss_from_labels(logits, labels, weight, alpha, gamma)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)
    upstream = torch.randn(3, 50, dtype=torch.float64)
    want, = torch.autograd.grad((reference * upstream).sum(), logits)
    got, = torch.autograd.grad((ours * upstream).sum(), logits)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    small = logits[:1, :8].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: focal_loss_from_labels(x, labels[:1, :8], weight[:1, :8], alpha, gamma),
                                    (small,))
