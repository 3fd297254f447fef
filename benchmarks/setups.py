"""Shared by the benchmarks: the same RetinaNet built two ways (ours and torchvision's), a random
batch, and a timing helper that alternates the contenders and reports medians.

Not part of the test suite; every script prints JSON.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.detection import RetinaNet as TVRetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchors
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import Conv2dNormActivation

from detector.core.config import Config, from_dict, load_config
from detector.core.normalization import IMAGENET_MEAN, IMAGENET_STD
from detector.model.retinanet import RetinaNet, build_model

# name -> (backbone, image size, batch, FPN/head width, head convs); "default" is configs/shapes_focal.yaml
SETUPS: dict[str, dict] = {
    "r18-256-b4": {"backbone": "resnet18", "size": 256, "batch": 4, "channels": 256, "convs": 4},
    "r50-512-b2": {"backbone": "resnet50", "size": 512, "batch": 2, "channels": 256, "convs": 4},
    # the paper's R50-FPN at 800 px (letterboxed square), batch 8 and 16: the GPU suite's setups
    "r50-800-b8": {"backbone": "resnet50", "size": 800, "batch": 8, "channels": 256, "convs": 4},
    "r50-800-b16": {"backbone": "resnet50", "size": 800, "batch": 16, "channels": 256, "convs": 4},
    "default": {},
}


def setup_config(name: str) -> Config:
    """The config of a named setup: the default config with the setup's architecture on top."""
    cfg = load_config("configs/shapes_focal.yaml")
    spec = SETUPS[name]
    if not spec:
        return cfg
    d = cfg.to_dict()
    d["model"]["backbone"]["name"] = spec["backbone"]
    d["model"]["fpn_channels"] = spec["channels"]
    d["model"]["head"]["num_convs"] = spec["convs"]
    d["model"]["anchors"]["sizes"] = [32, 64, 128, 256, 512]
    d["augment"]["image_size"] = spec["size"]
    d["train"]["batch_size"] = spec["batch"]
    return from_dict(d)


def build_ours(cfg: Config, num_classes: int) -> RetinaNet:
    return build_model(cfg.model, num_classes)


def build_torchvision(cfg: Config, num_classes: int) -> TVRetinaNet:
    """torchvision's RetinaNet with our architecture: same ResNet, FPN (P6 from C5), head depth,
    width and norm, anchors and input size (its transform resizes to exactly that size)."""
    m = cfg.model
    resnet = getattr(torchvision.models, m.backbone.name)(weights=None)
    c5 = 2048 if m.backbone.name in ("resnet50", "resnet101") else 512
    backbone = BackboneWithFPN(resnet, {"layer2": "0", "layer3": "1", "layer4": "2"}, [c5 // 4, c5 // 2, c5],
                               m.fpn_channels, extra_blocks=LastLevelP6P7(c5, m.fpn_channels))
    scales = m.anchors.scales
    anchors = TVAnchors(tuple(tuple(s * k for k in scales) for s in m.anchors.sizes),
                        (tuple(m.anchors.ratios),) * len(m.anchors.sizes))
    norm = partial(nn.GroupNorm, 32) if m.head.norm == "gn" else None
    head = RetinaNetHead(m.fpn_channels, anchors.num_anchors_per_location()[0], num_classes, norm_layer=norm)
    for sub in (head.classification_head, head.regression_head):
        sub.conv = nn.Sequential(*[Conv2dNormActivation(m.fpn_channels, m.fpn_channels, norm_layer=norm)
                                   for _ in range(m.head.num_convs)])
    size = cfg.augment.image_size
    return TVRetinaNet(backbone, num_classes, min_size=size, max_size=size, image_mean=list(IMAGENET_MEAN),
                       image_std=list(IMAGENET_STD), anchor_generator=anchors, head=head)


@dataclass
class Batch:
    images: Tensor  # (N, 3, S, S) in [0, 1]
    targets: dict[str, Tensor]  # our padded contract: boxes (N, M, 4), labels, valid, crowd
    tv_targets: list[dict[str, Tensor]]  # torchvision's: one dict per image


def random_batch(batch: int, size: int, boxes_per_image: int, num_classes: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, size, size, generator=g)
    wh = torch.exp(torch.empty(batch, boxes_per_image, 2).uniform_(2.3, 4.0, generator=g)) * size / 128
    xy = torch.rand(batch, boxes_per_image, 2, generator=g) * (size - wh)
    boxes = torch.cat([xy, xy + wh], dim=-1)
    labels = torch.randint(0, num_classes, (batch, boxes_per_image), generator=g)
    valid = torch.ones(batch, boxes_per_image, dtype=torch.bool)
    targets = {"boxes": boxes, "labels": labels, "valid": valid, "crowd": torch.zeros_like(valid)}
    tv = [{"boxes": boxes[i], "labels": labels[i]} for i in range(batch)]
    return Batch(images, targets, tv)


def median_times(contenders: dict[str, Callable[[], object]], reps: int, warmup: int = 2) -> dict[str, float]:
    """Seconds per call, median over ``reps``, contenders alternated so drift hits all alike."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            gc.collect()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}
