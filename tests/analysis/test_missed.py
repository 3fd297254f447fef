"""The missed-box instrument (focaldet eval --missed): the left-out boxes come back as their own labels,
anchors are grouped as the criterion sees them, and the loss / gradient sums equal torchvision's
focal loss on each group."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

import evaluate
from detector.analysis.missed import anchor_groups, missed_box_statistics, split_with_missed_boxes, summarise
from detector.core.boxes import BACKGROUND, IGNORE, Matcher
from detector.losses.classification import BCELoss, FocalLoss
from tests.conftest import prepare, tiny_config


def boxes_of(coco: dict) -> Counter:
    return Counter((a["image_id"], a["category_id"], *a["bbox"]) for a in coco["annotations"])


def test_split_holds_the_kept_boxes_and_the_left_out_ones_as_extra_labels(tmp_path):
    cfg = tiny_config(tmp_path, num_train=12, objects_per_image="[2,4]")
    clean, _ = prepare(cfg)
    cfg.data.noise.missing, cfg.data.noise.seed = 0.5, 3
    noisy, _ = prepare(cfg)
    dataset, k = split_with_missed_boxes(cfg)
    assert k == 3 and len(dataset) == 12
    labels = [int(label) for i in dataset.image_ids for label in dataset.annotations(i)[1]]
    assert sum(label < k for label in labels) == len(noisy["train"]["annotations"])  # what training saw
    assert sum(label >= k for label in labels) == len(clean["train"]["annotations"]) - len(noisy["train"]["annotations"])
    assert 0 < sum(label >= k for label in labels) < len(labels)
    # every clean box is there once, its class kept (a left-out box as K + its class)
    coco = dataset.coco.dataset
    ids = [c["id"] for c in clean["train"]["categories"]]
    offset = max(ids) - min(ids) + 1
    restored = [{**a, "category_id": a["category_id"] - offset if a["category_id"] > max(ids) else a["category_id"]}
                for a in coco["annotations"]]
    assert boxes_of({"annotations": restored}) == boxes_of(clean["train"])
    assert [c["name"] for c in coco["categories"]][k:] == [f"missed {n}" for n in dataset.class_names[:k]]
    assert len(dataset.class_counts()) == 2 * k


def test_anchor_groups_positive_missed_and_negative():
    matcher = Matcher(0.5, 0.4)
    anchors = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 9, 10.0]])
    # image 0: a kept box of class 1 on anchor 0, a left-out box of class 2 (label K + 2) on anchor 1
    targets = {"boxes": torch.tensor([[[0, 0, 10, 10], [20, 20, 30, 30.0]]]), "labels": torch.tensor([[1, 5]]),
               "valid": torch.tensor([[True, True]]), "crowd": torch.tensor([[False, False]])}
    matches, labels, missed, missed_labels = anchor_groups(matcher, anchors, targets, num_classes=3)
    assert matches.tolist() == [[0, BACKGROUND, BACKGROUND, 0]]
    assert labels.tolist() == [[1, -1, -1, 1]]
    assert missed.tolist() == [[False, True, False, False]]
    assert missed_labels[0, 1] == 2
    # a left-out box on an anchor the kept box claims stays a positive, not missed
    targets["boxes"][0, 1] = torch.tensor([0, 0, 9, 10.0])
    matches, _, missed, _ = anchor_groups(matcher, anchors, targets, num_classes=3)
    assert not missed.any() and (matches[0, [0, 3]] == 0).all()
    assert IGNORE not in matches.tolist()[0]


class FixedLogits(torch.nn.Module):
    """A 'model' whose predictions are given: (N, A, K) logits over fixed anchors."""

    def __init__(self, logits: torch.Tensor, anchors: torch.Tensor) -> None:
        super().__init__()
        self.logits, self.anchors = logits, anchors

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"cls_logits": self.logits[: len(images)], "anchors": self.anchors}


@pytest.mark.parametrize("loss", ["focal", "bce"])
def test_sums_equal_torchvisions_focal_loss_per_group(loss):
    torch.manual_seed(0)
    anchors = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [70, 70, 80, 80.0]])
    logits = torch.randn(2, 4, 3) * 2
    targets = {"boxes": torch.tensor([[[0, 0, 10, 10], [20, 20, 30, 30.0]], [[50, 50, 60, 60], [0, 0, 1, 1.0]]]),
               "labels": torch.tensor([[1, 5], [3, 0]]), "valid": torch.tensor([[True, True], [True, False]]),
               "crowd": torch.zeros(2, 2, dtype=torch.bool)}
    classification, (alpha, gamma) = (FocalLoss(), (0.25, 2.0)) if loss == "focal" else (BCELoss(), (-1, 0.0))
    stats = missed_box_statistics(FixedLogits(logits, anchors), classification, Matcher(0.5, 0.4, False),
                                  [(torch.zeros(2, 3, 8, 8), targets)], 3, torch.device("cpu"), 0.05)
    # by hand: image 0 anchor 0 positive (class 1), anchor 1 missed (class 2); image 1 anchor 2 missed (class 0)
    groups = {"positive": [(0, 0)], "missed": [(0, 1), (1, 2)], "negative": [(0, 2), (0, 3), (1, 0), (1, 1), (1, 3)]}
    dense = torch.zeros(2, 4, 3)
    dense[0, 0, 1] = 1
    x = logits.clone().requires_grad_()
    ref = sigmoid_focal_loss(x, dense, alpha=alpha, gamma=gamma, reduction="none")  # (2, 4, 3)
    (grad,) = torch.autograd.grad(ref.sum(), x)
    probs = torch.sigmoid(logits)
    for group, where in groups.items():
        s = stats["sums"][group]
        idx = tuple(zip(*where))
        assert s["anchors"] == len(where)
        assert s["loss"] == pytest.approx(ref.detach()[idx].sum().item(), rel=1e-5)
        assert s["gradient"] == pytest.approx(grad[idx].abs().sum().item(), rel=1e-5)
    assert stats["sums"]["missed"]["score"] == pytest.approx((probs[0, 1, 2] + probs[1, 2, 0]).item(), rel=1e-6)
    assert stats["sums"]["positive"]["score"] == pytest.approx(probs[0, 0, 1].item(), rel=1e-6)
    assert stats["sums"]["negative"]["score"] == pytest.approx(
        sum(probs[i, a].max().item() for i, a in groups["negative"]), rel=1e-6)
    assert stats["boxes_left_out"] == 2 and stats["images"] == 2
    summary = summarise(stats)
    assert sum(summary[g]["loss_share"] for g in groups) == pytest.approx(1.0)
    assert sum(summary[g]["gradient_share"] for g in groups) == pytest.approx(1.0)
    assert summary["negative"]["loss_per_anchor_vs_negative"] == pytest.approx(1.0)
    assert summary["missed"]["anchors_per_image"] == 1.0


def test_evaluate_missed_writes_the_report_and_needs_left_out_boxes(tiny_checkpoint, tmp_path, capsys):
    _, ckpt = tiny_checkpoint
    out = tmp_path / "eval"
    assert evaluate.main(["--checkpoint", str(ckpt), "--missed", "--output", str(out)]) == 2
    assert "data.noise.missing=0" in capsys.readouterr().err
    assert evaluate.main(["--checkpoint", str(ckpt), "--missed", "--output", str(out),
                          "data.noise.missing=0.5", "train.device=cpu"]) == 0
    report = json.loads((out / "missed" / "missed.json").read_text())
    assert report["loss"] == "focal" and report["noise"]["missing"] == 0.5
    assert report["images"] == 8 and report["boxes_left_out"] > 0
    assert sum(report[g]["loss_share"] for g in ("positive", "missed", "negative")) == pytest.approx(1.0)
    assert "missed" in capsys.readouterr().out
