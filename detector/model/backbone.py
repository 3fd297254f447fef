"""ResNet body and the RetinaNet feature pyramid (P3..P7)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.ops import FrozenBatchNorm2d

from detector.core.checkpoint import CheckpointError, load_plain

RESNET_CHANNELS = {  # output channels of C3, C4, C5
    "resnet18": (128, 256, 512),
    "resnet34": (128, 256, 512),
    "resnet50": (512, 1024, 2048),
    "resnet101": (512, 1024, 2048),
}


class ResNetBody(nn.Module):
    """A torchvision ResNet without its classifier; returns C3, C4, C5 (strides 8, 16, 32)."""

    def __init__(self, name: str, frozen_bn: bool = False, freeze_stages: int = 0) -> None:
        super().__init__()
        if name not in RESNET_CHANNELS:
            raise ValueError(f"unknown backbone '{name}'; choose from {sorted(RESNET_CHANNELS)}")
        norm_layer = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
        net = getattr(torchvision.models, name)(weights=None, norm_layer=norm_layer)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = RESNET_CHANNELS[name]
        self.freeze(freeze_stages)

    def freeze(self, stages: int) -> None:
        """Stop gradients through the stem (stages >= 1) and layer1..layer{stages-1}."""
        modules = [self.stem, self.layer1, self.layer2, self.layer3, self.layer4][:stages]
        for module in modules:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        """x (N, 3, H, W) -> [C3 (N, c3, H/8, W/8), C4 (.., H/16, ..), C5 (.., H/32, ..)]."""
        x = self.layer1(self.stem(x))
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c3, c4, c5]


class WeightsError(ValueError):
    """Pretrained weights that cannot be loaded; the message says what was tried and what to do."""


_INSTEAD = "or train without them: recipe=scratch (or recipe=auto, which falls back to it)"


def read_backbone_weights(name: str, weights: str) -> dict[str, Tensor]:
    """The state_dict ``model.backbone.weights`` names: a local file, or a torchvision weights name
    (downloaded once into torch's cache). ``WeightsError`` says in one line what was tried."""
    path = Path(weights)
    if path.suffix in {".pt", ".pth", ".bin"} or path.exists():
        if not path.is_file():
            raise WeightsError(f"model.backbone.weights: the file '{weights}' does not exist; pass the path of a "
                               f"saved {name} state_dict, {_INSTEAD}")
        try:
            state = load_plain(path)
        except CheckpointError as exc:
            raise WeightsError(f"model.backbone.weights: {exc}") from None
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise WeightsError(f"model.backbone.weights: '{weights}' holds a {type(state).__name__}, not a state_dict")
        return state
    enum = torchvision.models.get_model_weights(name)
    try:
        entry = enum[weights]
    except KeyError:
        raise WeightsError(f"model.backbone.weights '{weights}' is neither a file nor one of "
                           f"{[w.name for w in enum]}") from None
    try:
        return entry.get_state_dict(progress=False)
    except (OSError, RuntimeError) as exc:  # no network (URLError is an OSError), a truncated download
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise WeightsError(
            f"model.backbone.weights={weights}: downloading {entry.url} failed ({reason}); download it once on a "
            f"machine with internet and pass the file (model.backbone.weights=PATH; torchvision keeps it in "
            f"~/.cache/torch/hub/checkpoints/{Path(entry.url).name}, where this machine would find it too), "
            f"{_INSTEAD}") from None


def load_backbone_weights(body: ResNetBody, name: str, weights: str) -> list[str]:
    """Load ImageNet weights into ``body`` from a local state_dict file or a torchvision weights name.

    Returns the keys of the file that were not used (the classifier ``fc.*``); weights of another
    architecture raise ``WeightsError``.
    """
    renamed = OrderedDict()
    for key, value in read_backbone_weights(name, weights).items():
        for src, dst in (("conv1.", "stem.0."), ("bn1.", "stem.1.")):
            if key.startswith(src):
                key = dst + key[len(src):]
        renamed[key] = value
    try:
        missing, unexpected = body.load_state_dict(renamed, strict=False)
    except RuntimeError as exc:  # shapes that do not fit: another architecture
        first = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), str(exc)[:200])
        raise WeightsError(f"model.backbone.weights '{weights}' does not fit model.backbone.name={name} ({first}); "
                           f"name the backbone they were trained for, {_INSTEAD}") from None
    # FrozenBatchNorm2d has no num_batches_tracked; everything else must be present
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    extra = [k for k in unexpected if not k.startswith("fc.")]  # e.g. a ResNet-34's third res2 block
    if missing or extra:
        raise WeightsError(f"model.backbone.weights '{weights}' lack {len(missing)} of the {name} keys and have "
                           f"{len(extra)} it has not (e.g. {(missing + extra)[:3]}): weights of another architecture; "
                           f"name the backbone they were trained for, {_INSTEAD}")
    return list(unexpected)


class FPN(nn.Module):
    """Feature pyramid: C3..C5 -> P3..P7, all with ``channels`` channels.

    P6 is a 3x3 stride-2 conv on C5 (the paper; ``p6_from="p5"`` takes P5 as torchvision does),
    P7 = ReLU then a 3x3 stride-2 conv on P6.
    """

    def __init__(self, in_channels: tuple[int, int, int], channels: int, p6_from: str = "c5") -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)
        self.p6_from = p6_from
        p6_in = in_channels[-1] if p6_from == "c5" else channels
        self.p6 = nn.Conv2d(p6_in, channels, 3, stride=2, padding=1)
        self.p7 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """[C3, C4, C5] -> [P3, P4, P5, P6, P7] (strides 8..128)."""
        laterals = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(laterals) - 1, 0, -1):  # top-down pathway
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1] + up
        outs = [conv(x) for conv, x in zip(self.output, laterals)]
        p6 = self.p6(feats[-1] if self.p6_from == "c5" else outs[-1])
        p7 = self.p7(F.relu(p6))
        return outs + [p6, p7]
