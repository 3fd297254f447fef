"""Starting from other weights: torchvision's RetinaNet gives identical detections after import;
a different class count re-initialises only the classification output layer."""

import math

import torch
import torchvision

import train
from detector.core.boxes import BoxCoder
from detector.core.config import ModelConfig
from detector.inference.postprocess import PostProcessor
from detector.model.retinanet import build_model
from detector.model.weights import init_from


def torchvision_like_config() -> ModelConfig:
    """retinanet_resnet50_fpn (v1): R50, FPN 256 with P6 from P5, 4 convs, no head norm, int anchors."""
    cfg = ModelConfig()
    cfg.backbone.name = "resnet50"
    cfg.p6_from = "p5"
    cfg.anchors.torchvision_compat = True
    return cfg


def randomised_torchvision_retinanet(num_classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    tv = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes, min_size=128, max_size=128)
    with torch.no_grad():  # non-trivial BatchNorm statistics and scores above the threshold
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
        tv.head.classification_head.cls_logits.bias.normal_(-2.0, 1.5)
        tv.head.regression_head.bbox_reg.weight.mul_(20)
    return tv.eval()


def test_torchvision_retinanet_weights_give_the_same_detections(tmp_path):
    tv = randomised_torchvision_retinanet(num_classes=5)
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    ours = build_model(torchvision_like_config(), num_classes=5)
    report = init_from(ours, tmp_path / "tv.pth")
    assert not report.reinitialised and not report.skipped and not report.missing
    ours.eval()
    post = PostProcessor(BoxCoder([1.0, 1.0, 1.0, 1.0]), 0.05, 1000, 0.5, tv.detections_per_img)
    images = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tv(list(images))
        got = post(ours(images), torch.tensor([[128, 128]] * 2))
    assert sum(len(e["boxes"]) for e in expected) > 20
    for e, g in zip(expected, got):
        assert len(e["boxes"]) == len(g["boxes"])
        order_e, order_g = e["scores"].argsort(descending=True), g["scores"].argsort(descending=True)
        torch.testing.assert_close(g["scores"][order_g], e["scores"][order_e], rtol=0, atol=1e-5)
        assert torch.equal(g["labels"][order_g], e["labels"][order_e])
        torch.testing.assert_close(g["boxes"][order_g], e["boxes"][order_e], rtol=0, atol=1e-4)


def test_other_class_count_reinitialises_the_classifier_with_the_prior(tmp_path):
    tv = randomised_torchvision_retinanet(num_classes=91)
    torch.save(tv.state_dict(), tmp_path / "coco.pth")
    ours = build_model(torchvision_like_config(), num_classes=2)
    report = init_from(ours, tmp_path / "coco.pth")
    assert report.reinitialised == ["cls_head.out.weight", "cls_head.out.bias"]
    torch.testing.assert_close(ours.cls_head.out.bias, torch.full((9 * 2,), -math.log(99)))
    assert ours.cls_head.out.weight.std() < 0.02
    torch.testing.assert_close(ours.box_head.out.weight, tv.head.regression_head.bbox_reg.weight)
    assert "re-initialised (shape differs): cls_head.out.weight" in report.summary()


def test_train_init_from_own_checkpoint_and_bad_file(tmp_path, capsys):
    cfg_args = [f"{k}={v}" for k, v in (
        ("data.root", tmp_path / "shapes"), ("data.synthetic.num_train", 8), ("data.synthetic.num_val", 4),
        ("data.synthetic.image_size", 96), ("augment.image_size", 96), ("model.backbone.name", "resnet18"),
        ("model.fpn_channels", 32), ("model.head.num_convs", 1), ("train.batch_size", 4),
        ("train.num_workers", 0), ("solver.max_iters", 1), ("train.vis_images", 0))]
    first = cfg_args + [f"train.output_dir={tmp_path / 'a'}"]
    assert train.main(["--config", "configs/shapes_focal.yaml", *first]) == 0
    second = cfg_args + [f"train.output_dir={tmp_path / 'b'}", "data.synthetic.classes=[circle,square]",
                         "data.synthetic.class_weights=[1,1]", f"data.root={tmp_path / 'two'}"]
    assert train.main(["--config", "configs/shapes_focal.yaml", "--init-from", str(tmp_path / "a" / "last.pt"),
                       *second]) == 0
    out = capsys.readouterr().out
    assert "re-initialised (shape differs): cls_head.out.weight, cls_head.out.bias" in out
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert train.main(["--config", "configs/shapes_focal.yaml", "--init-from", str(tmp_path / "junk.pt"),
                       *second]) == 2
    assert "junk.pt' cannot be loaded" in capsys.readouterr().err
