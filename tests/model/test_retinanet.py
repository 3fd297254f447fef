import math

import torch

from detector.model.heads import prior_bias
from detector.model.retinanet import build_model
from tests.conftest import small_model_cfg


def test_forward_shapes_and_prior_init():
    model = build_model(small_model_cfg(), num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 96))
    levels = [(16, 12), (8, 6), (4, 3), (2, 2), (1, 1)]
    a = sum(h * w for h, w in levels) * 9
    assert out["cls_logits"].shape == (2, a, 5)
    assert out["box_deltas"].shape == (2, a, 4)
    assert out["anchors"].shape == (a, 4)
    assert out["anchors_per_level"] == [h * w * 9 for h, w in levels]
    bias = model.cls_head.out.bias
    torch.testing.assert_close(bias, torch.full_like(bias, -math.log(99)))
    # near-zero weights: every anchor starts close to the prior probability
    assert abs(torch.sigmoid(out["cls_logits"]).mean().item() - 0.01) < 0.005


def test_no_prior_and_frozen_options():
    assert prior_bias(0.0) == 0.0
    cfg = small_model_cfg()
    cfg.backbone.frozen_bn = True
    cfg.backbone.freeze_stages = 2
    cfg.head.norm = "gn"
    model = build_model(cfg, 2)
    assert not any(p.requires_grad for p in model.body.stem.parameters())
    assert not any(p.requires_grad for p in model.body.layer1.parameters())
    assert all(p.requires_grad for p in model.body.layer2.parameters())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.cls_head.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.body.modules())


def test_backbone_weights_from_local_file(tmp_path):
    import torchvision

    ref = torchvision.models.resnet18()
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    cfg = small_model_cfg()
    cfg.backbone.weights = str(tmp_path / "r18.pth")
    model = build_model(cfg, 2)
    torch.testing.assert_close(model.body.layer3[0].conv1.weight, ref.layer3[0].conv1.weight)
    torch.testing.assert_close(model.body.stem[0].weight, ref.conv1.weight)
