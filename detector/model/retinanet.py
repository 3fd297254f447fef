"""RetinaNet: ResNet-FPN features -> dense per-anchor class logits and box deltas."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from detector.core.config import ModelConfig
from detector.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from detector.core.structures import Predictions
from detector.model.anchors import AnchorGenerator, build_anchor_generator
from detector.model.backbone import FPN, ResNetBody, load_backbone_weights
from detector.model.heads import Subnet, prior_bias


class RetinaNet(nn.Module):
    """Dense one-stage detector. ``forward`` returns the same predictions in train and eval mode;
    the loss (``detector.losses.criterion``) and post-processing (``detector.inference.postprocess``) are separate.
    """

    pixel_mean: Tensor  # (1, 3, 1, 1) buffers, ImageNet's normalisation
    pixel_std: Tensor

    def __init__(self, body: ResNetBody, fpn: FPN, anchor_generator: AnchorGenerator, num_classes: int,
                 num_convs: int = 4, head_norm: str = "none", prior_prob: float = 0.01,
                 size_divisible: int = 1) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.body = body
        self.fpn = fpn
        self.anchor_generator = anchor_generator
        self.num_classes = num_classes
        self.size_divisible = size_divisible
        channels = fpn.p7.out_channels
        a = anchor_generator.num_anchors_per_location
        self.cls_head = Subnet(channels, a, num_classes, num_convs, head_norm, prior_bias(prior_prob))
        self.box_head = Subnet(channels, a, 4, num_convs, head_norm)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, images: Tensor) -> list[Tensor]:
        """images (N, 3, H, W) RGB in [0, 1] -> FPN levels P3..P7, each (N, C, H_l, W_l). With
        ``size_divisible`` > 1 the normalised images are first padded at the bottom and right with
        zeros to a multiple of it, as torchvision's and detectron2's transforms do (32 for FPNs)."""
        x = (images - self.pixel_mean) / self.pixel_std
        if self.size_divisible > 1:
            h, w = x.shape[-2:]
            x = F.pad(x, (0, (-w) % self.size_divisible, 0, (-h) % self.size_divisible))
        return self.fpn(self.body(x))

    def heads(self, images: Tensor, features: list[Tensor]) -> Predictions:
        """The predictions on ``features`` (see ``forward``); ``images`` gives the anchors' device and
        the padded input size (torchvision-compatible anchors take their strides from it)."""
        sizes = [(f.shape[-2], f.shape[-1]) for f in features]  # ints; symbolic while exporting
        a = self.anchor_generator.num_anchors_per_location
        h, w = images.shape[-2:]
        padded = (h + (-h) % self.size_divisible, w + (-w) % self.size_divisible)  # as ``features`` pads
        return {
            "cls_logits": self.cls_head(features),
            "box_deltas": self.box_head(features),
            "anchors": self.anchor_generator(sizes, images.device, padded),
            "anchors_per_level": [h * w * a for h, w in sizes],
        }

    def forward(self, images: Tensor) -> Predictions:
        """images (N, 3, H, W) RGB in [0, 1] -> ``core.structures.Predictions``."""
        return self.heads(images, self.features(images))


def build_model(cfg: ModelConfig, num_classes: int) -> RetinaNet:
    """The RetinaNet described by ``cfg`` for ``num_classes`` foreground classes."""
    body = ResNetBody(cfg.backbone.name, cfg.backbone.frozen_bn, cfg.backbone.freeze_stages)
    if cfg.backbone.weights:
        load_backbone_weights(body, cfg.backbone.name, cfg.backbone.weights)
    fpn = FPN(body.out_channels, cfg.fpn_channels, cfg.p6_from)
    return RetinaNet(body, fpn, build_anchor_generator(cfg.anchors), num_classes, cfg.head.num_convs, cfg.head.norm,
                     cfg.head.prior_prob, cfg.size_divisible)
