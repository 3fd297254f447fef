"""The speed settings (channels_last, bf16 autocast) must not change what the model computes.

Tolerances: channels_last only reorders memory, so losses agree to 1e-4 relative and detections
exactly (same labels, boxes to 1e-3 px). bf16 keeps 8 mantissa bits: losses agree to 3% relative,
and at least 90% of the confident fp32 detections (score > 0.6, a margin over the 0.5 threshold)
have a bf16 detection of the same class at IoU >= 0.9.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou

from detector.core.boxes import BoxCoder
from detector.core.config import LossConfig, MatcherConfig
from detector.inference.postprocess import PostProcessor
from detector.losses.criterion import build_criterion
from detector.model.retinanet import build_model
from tests.conftest import small_model_cfg


def setup(seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(small_model_cfg(), num_classes=3).eval()
    with torch.no_grad():  # spread the scores so detections are not ties decided by rounding
        model.cls_head.out.bias.normal_(-3.0, 2.0)
        model.cls_head.out.weight.mul_(10)
    images = torch.rand(2, 3, 96, 96)
    targets = {"boxes": torch.tensor([[[10.0, 12, 40, 50], [50, 50, 90, 80]], [[5, 5, 30, 30], [0, 0, 0, 0]]]),
               "labels": torch.tensor([[0, 2], [1, 0]]), "valid": torch.tensor([[True, True], [True, False]])}
    targets["crowd"] = torch.zeros_like(targets["valid"])
    return model, images, targets


def run(model, images, targets, channels_last: bool = False, dtype: torch.dtype | None = None):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        preds = model(images.contiguous(memory_format=fmt))
    losses, _ = build_criterion(LossConfig(), MatcherConfig())(preds, targets)
    post = PostProcessor(BoxCoder([1.0, 1.0, 1.0, 1.0]), score_thresh=0.5)
    sizes = torch.tensor([[96, 96]] * len(images))
    return losses, post({k: v.float() if torch.is_tensor(v) else v for k, v in preds.items()}, sizes)


def test_channels_last_gives_the_same_losses_and_detections():
    model, images, targets = setup()
    ref_losses, ref_dets = run(model, images, targets)
    losses, dets = run(model, images, targets, channels_last=True)
    for k in ref_losses:
        torch.testing.assert_close(losses[k], ref_losses[k], rtol=1e-4, atol=1e-6)
    assert sum(len(d["boxes"]) for d in ref_dets) > 10
    for d, r in zip(dets, ref_dets):
        assert torch.equal(d["labels"], r["labels"])
        torch.testing.assert_close(d["boxes"], r["boxes"], rtol=0, atol=1e-3)
        torch.testing.assert_close(d["scores"], r["scores"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_bf16_autocast_stays_within_tolerance(channels_last):
    model, images, targets = setup()
    ref_losses, ref_dets = run(model, images, targets)
    losses, dets = run(model, images, targets, channels_last=channels_last, dtype=torch.bfloat16)
    for k in ref_losses:
        torch.testing.assert_close(losses[k], ref_losses[k], rtol=3e-2, atol=1e-4)
    matched = total = 0
    for d, r in zip(dets, ref_dets):
        keep = r["scores"] > 0.6
        total += int(keep.sum())
        if len(d["boxes"]) and keep.any():
            iou = box_iou(r["boxes"][keep], d["boxes"]) * (r["labels"][keep][:, None] == d["labels"][None, :])
            matched += int((iou.max(dim=1).values >= 0.9).sum())
    assert total > 10
    assert matched >= 0.9 * total


def test_compiled_forward_and_loss_match_eager_and_train(tmp_path, monkeypatch):
    """train.compile=true (torch.compile) captures forward + loss as one graph: it gives the eager
    losses on the same batch (to 1e-4), a training step runs through it, and checkpoints keep plain
    keys. Captured here with the aot_eager backend (the graph and its autograd, no code generation:
    seconds instead of 50-90 s on a 2-core CPU); inductor's kernels run in benchmarks/gpu.sh."""
    from functools import partial

    from detector.engine.setup import build_trainer
    from tests.conftest import tiny_config

    monkeypatch.setattr(torch, "compile", partial(torch.compile, backend="aot_eager"))
    cfg = tiny_config(tmp_path)
    cfg.train.compile = True
    trainer = build_trainer(cfg)
    assert trainer.forward_loss is not trainer._forward_loss  # torch.compile's wrapper
    images, targets = next(iter(trainer.batches()))
    with torch.no_grad():
        eager, _ = trainer._forward_loss(images, targets)
    compiled, _ = trainer.train_step(images, targets)  # one compilation (with gradients): the losses before the update
    for k in eager:
        torch.testing.assert_close(compiled[k].detach(), eager[k], rtol=1e-4, atol=1e-6)
    assert not any("_orig_mod" in k for k in trainer.state_dict()["model"])
