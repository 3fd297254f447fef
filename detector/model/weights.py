"""Start a model from other weights: one of our checkpoints, or torchvision's RetinaNet state_dict.

Everything whose name and shape fit is loaded; the rest keeps its fresh initialisation and is
reported. When the number of classes differs, the classification output layer is the part that
does not fit: it stays at N(0, 0.01) weights and the prior-probability bias, as the paper starts it.
The exception is torchvision's COCO-trained model, whose classifier has one output per COCO
category id (91, the unused ids included): when the dataset's categories are COCO's (each id
carries COCO's name for it, as in instances_val2017.json), each of our classes takes the outputs
of its own id, so COCO gets the trained classifier, not a new one. Other datasets (ids 1..K of
their own classes) keep the fresh classifier: COCO's "person" output is no start for class 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from detector.core.checkpoint import CheckpointError, load_plain

# torchvision RetinaNet key -> ours; "{tower}" is filled in per head depth and norm
_TORCHVISION_RULES = [
    (r"^backbone\.body\.conv1\.", "body.stem.0."),
    (r"^backbone\.body\.bn1\.", "body.stem.1."),
    (r"^backbone\.body\.", "body."),
    (r"^backbone\.fpn\.inner_blocks\.(\d)\.(?:0\.)?", r"fpn.lateral.\1."),
    (r"^backbone\.fpn\.layer_blocks\.(\d)\.(?:0\.)?", r"fpn.output.\1."),
    (r"^backbone\.fpn\.extra_blocks\.p([67])\.", r"fpn.p\1."),
    (r"^head\.classification_head\.cls_logits\.", "cls_head.out."),
    (r"^head\.regression_head\.bbox_reg\.", "box_head.out."),
]
_TOWER = re.compile(r"^head\.(classification|regression)_head\.conv\.(\d+)\.(\d)\.(.*)$")


@dataclass
class InitReport:
    loaded: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)  # ours, left at their fresh init (shape differs)
    skipped: list[str] = field(default_factory=list)  # in the file, no place in this model
    missing: list[str] = field(default_factory=list)  # ours, absent from the file
    mapped: str = ""  # how the classifier's outputs were taken by category id, if they were

    def summary(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"] + ([self.mapped] if self.mapped else [])
        for name, keys in (("re-initialised (shape differs)", self.reinitialised),
                           ("skipped (not in this model)", self.skipped),
                           ("kept fresh (not in the file)", self.missing)):
            if keys:
                shown = ", ".join(keys[:6]) + (f", ... ({len(keys)} in all)" if len(keys) > 6 else "")
                lines.append(f"{name}: {shown}")
        return "\n".join(lines)


def is_torchvision_retinanet(state: dict[str, Tensor]) -> bool:
    return any(k.startswith("backbone.body.") for k in state) and any(k.startswith("head.") for k in state)


def from_torchvision(state: dict[str, Tensor], head_norm: str) -> dict[str, Tensor]:
    """Rename torchvision RetinaNet keys (v1 and v2 heads) to this project's module names."""
    per_block = 3 if head_norm == "gn" else 2  # our tower: conv, [GroupNorm,] ReLU per block
    out = {}
    for key, value in state.items():
        m = _TOWER.match(key)
        if m:
            head = "cls_head" if m.group(1) == "classification" else "box_head"
            index = int(m.group(2)) * per_block + int(m.group(3))  # .0 conv, .1 norm
            out[f"{head}.tower.{index}.{m.group(4)}"] = value
            continue
        for pattern, repl in _TORCHVISION_RULES:
            if re.match(pattern, key):
                key = re.sub(pattern, repl, key)
                break
        out[key] = value
    return out


def read_weights(path: str | Path) -> dict[str, Tensor]:
    """A state_dict from our checkpoint (its ``model``) or from a plain state_dict file."""
    state = load_plain(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"'{path}' is neither a checkpoint of this project nor a state_dict")
    return state


CLASSIFIER = ("cls_head.out.weight", "cls_head.out.bias")


def coco_names() -> list[str]:
    """COCO's category names by id (index 0 the background, "N/A" for the unused ids), as torchvision has them."""
    from torchvision.models.detection import RetinaNet_ResNet50_FPN_Weights
    return list(RetinaNet_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def classifier_by_category_id(state: dict[str, Tensor], own: dict[str, Tensor], categories: dict[int, str]) -> str:
    """Take, for our label j, the classifier rows of the j-th category id from a COCO classifier
    with one output per id (rows a * K_src + id, a the anchor), if every category is COCO's own
    (its id has COCO's name); "" when it does not apply."""
    weight, bias = (state.get(k) for k in CLASSIFIER)
    ours = own.get(CLASSIFIER[0])
    category_ids = list(categories)
    if weight is None or bias is None or ours is None or weight.shape == ours.shape or not category_ids:
        return ""
    names = coco_names()
    if any(not 0 < c < len(names) or names[c] != name for c, name in categories.items()):
        return ""
    anchors = ours.shape[0] // len(category_ids)
    k_src = weight.shape[0] // anchors
    if weight.shape[0] % anchors or weight.shape[1:] != ours.shape[1:] or not 0 <= min(category_ids) <= max(
            category_ids) < k_src:
        return ""
    rows = torch.tensor([a * k_src + c for a in range(anchors) for c in category_ids])
    state[CLASSIFIER[0]], state[CLASSIFIER[1]] = weight[rows], bias[rows]
    return f"classifier outputs taken by category id: {len(category_ids)} of the file's {k_src}"


def init_from(model: nn.Module, path: str | Path, head_norm: str = "none",
              categories: dict[int, str] | None = None) -> InitReport:
    """Load into ``model`` every tensor of ``path`` whose name and shape fit; report the rest.
    With ``categories`` (the dataset's id -> name, in label order) a torchvision COCO classifier
    is mapped onto our labels (``classifier_by_category_id``)."""
    state = read_weights(path)
    own = model.state_dict()
    report = InitReport()
    if is_torchvision_retinanet(state):
        state = from_torchvision(state, head_norm)
        report.mapped = classifier_by_category_id(state, own, categories or {})
    fitting = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):  # BatchNorm bookkeeping, absent from FrozenBatchNorm2d
            continue
        if key not in own:
            report.skipped.append(key)
        elif own[key].shape != value.shape:
            report.reinitialised.append(key)
        else:
            fitting[key] = value
            report.loaded.append(key)
    report.missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    model.load_state_dict(fitting, strict=False)
    return report
