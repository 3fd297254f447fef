"""``recipe: auto``: choose the recipe a run starts from by what is there, and say why in one line.

The rules, in order (docs/recipes.md has the measurements behind them):

1. ``model.init_from`` names a detector -> ``coco`` (finetune it; a checkpoint of this project
   keeps the recipe it was trained with, so its weights fit).
2. ``model.backbone.weights`` names ImageNet weights -> ``imagenet`` if they load; if they do not
   (offline, a bad path, another architecture) -> ``scratch``, with a warning that says why.
3. A CUDA device -> ``imagenet`` if torchvision's ImageNet weights for the backbone load (cached or
   downloadable), else ``scratch``.
4. Otherwise (a CPU, no weights named) -> ``scratch``.

Then, unless the config sets ``model.anchors`` itself or the recipe keeps a trained detector's
anchors (``coco``), the anchor coverage search (``evaluation.coverage.suggest``) runs on the
training boxes at the recipe's input size, and its anchors replace the recipe's when they cover more
boxes. The choice comes back as overrides, applied under nothing the config says itself.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

from detector.core.checkpoint import CheckpointError, load_plain
from detector.core.config import Config, explicit_keys, load_config
from detector.core.device import resolve_amp, resolve_device
from detector.data.build import build_dataset, prepare_data
from detector.data.problems import DataError
from detector.evaluation.coverage import anchor_override, dataset_boxes, measure, suggest
from detector.model.backbone import WeightsError, read_backbone_weights

ANCHOR_SAMPLE = 500  # training images the coverage search measures


@dataclass
class Choice:
    recipe: str
    overrides: list[str] = field(default_factory=list)  # recipe=..., and what the choice changed
    reasons: list[str] = field(default_factory=list)
    warning: str = ""  # pretrained weights that were named but could not be loaded

    def line(self) -> str:
        return f"recipe: {self.recipe} (recipe=auto: {'; '.join(self.reasons)})"


def _trained_recipe(init_from: str) -> str:
    """``coco`` for a torchvision state_dict; the recipe a checkpoint of this project records."""
    try:
        state = load_plain(init_from)
    except CheckpointError:
        return "coco"  # the run's own loading then reports what is wrong with the file
    config = state.get("config") if isinstance(state, dict) else None
    recipe = config.get("recipe") if isinstance(config, dict) else None
    return recipe if recipe in ("scratch", "imagenet", "coco") else "coco"


def _pretrained(cfg: Config, keys: set[str], device_type: str) -> Choice:
    """Rules 1-4: the recipe, and the overrides a fall-back to ``scratch`` needs."""
    if cfg.model.init_from:
        recipe = _trained_recipe(cfg.model.init_from)
        return Choice(recipe, [f"recipe={recipe}"], [f"model.init_from={cfg.model.init_from}: finetune that detector"])
    named = cfg.model.backbone.weights
    weights = named or ("IMAGENET1K_V1" if device_type == "cuda" else "")
    if not weights:
        return Choice("scratch", ["recipe=scratch"], ["no pretrained weights named, on the CPU: from scratch"])
    imagenet = load_config(None, ["recipe=imagenet"])
    backbone = cfg.model.backbone.name if "model.backbone.name" in keys else imagenet.model.backbone.name
    try:
        read_backbone_weights(backbone, weights)
    except WeightsError as exc:
        # the named weights, and what only makes sense with them, are switched off
        fallback = ["recipe=scratch", "model.backbone.weights=", "model.backbone.frozen_bn=false",
                    "model.backbone.freeze_stages=0"]
        why = f"{backbone} weights {weights} cannot be loaded: from scratch"
        warning = f"warning: {exc}\nwarning: falling back to recipe=scratch (frozen BatchNorm and stages off)" \
            if named else ""
        return Choice("scratch", fallback, [why], warning)
    overrides = ["recipe=imagenet"] + ([] if named else [f"model.backbone.weights={weights}"])
    where = "named" if named else f"loadable on {device_type}"
    return Choice("imagenet", overrides, [f"{backbone} weights {weights} {where}: finetune them"])


def _anchors(cfg: Config) -> tuple[list[str], str]:
    """(overrides, reason): the coverage search's anchors when they cover more training boxes."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # what the data says is printed once, by the run itself
            prepared, _ = prepare_data(cfg, ("train",), strict=False)
            train = build_dataset(cfg, "train", train_transforms=False, prepared=prepared["train"])
    except DataError:
        return [], "anchors: the recipe's (the training split cannot be read; the data scan says why)"
    images = dataset_boxes(train, cfg.augment, ANCHOR_SAMPLE)
    current = measure(images, cfg.model.anchors, cfg.matcher)
    size = f"{len(train)} training images, {sum(len(i.boxes) for i in images)} boxes"
    if not current.num_boxes:
        return [], f"{size}; anchors: the recipe's"
    better, cov = suggest(images, cfg.model.anchors, cfg.matcher)
    if cov.covered <= current.covered:
        return [], f"{size}; the recipe's anchors cover {100 * current.fraction_covered:.0f}% of the boxes"
    sizes = ",".join(f"{s:g}" for s in better.sizes)
    return (anchor_override(better).split(),
            f"{size}; anchors {sizes} (coverage search) cover {100 * cov.fraction_covered:.0f}% of the boxes "
            f"at IoU {cfg.matcher.fg_iou}, the recipe's {100 * current.fraction_covered:.0f}%")


def choose_recipe(config: str | Path | None, overrides: list[str], search_anchors: bool = True) -> Choice:
    """The recipe for ``config`` + ``overrides`` (whose ``recipe`` is auto) on this machine and data;
    ``search_anchors=False`` leaves the anchors to the caller (``focaldet anchors`` is that search)."""
    cfg = load_config(config, overrides)
    keys = explicit_keys(config, overrides)
    device = resolve_device(cfg.train.device)
    amp, _ = resolve_amp(cfg.train.amp, device)
    choice = _pretrained(cfg, keys, device.type)
    choice.reasons.insert(0, f"{device.type}, {'fp32' if amp == 'none' else amp}")
    if search_anchors and "model.anchors" not in keys and choice.recipe != "coco":
        extra, reason = _anchors(load_config(config, [*overrides, *choice.overrides]))
        choice.overrides += extra
        choice.reasons.append(reason)
    return choice


def resolve_recipe(cfg: Config, config: str | Path | None, overrides: list[str], search_anchors: bool = True,
                   show: bool = True) -> tuple[Config, str]:
    """``cfg`` (``load_config(config, overrides)``) with ``recipe: auto`` chosen (``choose_recipe``) and
    loaded again under it, and the line that says the choice ("" when the recipe was named). ``show``
    prints it (with any warning before it), as training does before the data is read."""
    if cfg.recipe != "auto":
        return cfg, ""
    choice = choose_recipe(config, overrides, search_anchors)
    if show:
        print(choice.line() if not choice.warning else f"{choice.warning}\n{choice.line()}")
    return load_config(config, [*overrides, *choice.overrides]), choice.line()
