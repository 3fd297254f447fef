"""What a loss does with the objects its annotators missed (claim 3 of docs/results.md).

A box left out of the training labels (``data.noise.missing``) turns the anchors on its object into
negatives: the loss pushes the model to call a real object background. With a run's final weights,
on its training images without augmentation, every anchor falls in one of three groups:

- positive: matched to a box the run trained with;
- missed: background to the boxes the run trained with, but a positive of a box it left out;
- negative: every other background anchor.

Per group: anchors per image, the mean score of the object's class (a negative: its highest class
score), the share scoring at least the detection threshold, and the group's share of the
classification loss and of its gradient (sum over classes of |dL/dlogit|) under the loss the run
trained with (``loss.cls``), at the model's own predictions. A clean run measured against the boxes a
noisy run leaves out (give ``data.noise.missing`` as an override) is the reference: for it those
anchors were positives.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from detector.core.boxes import BACKGROUND, IGNORE, AnchorMatcher, build_matcher
from detector.core.config import Config, NoiseConfig
from detector.core.structures import Targets
from detector.data.build import PreparedSplit, build_dataset, build_loader, prepare_data
from detector.data.coco import CocoDetection
from detector.data.noise import corrupt
from detector.inference.detector import Detector
from detector.losses.criterion import build_criterion, match_labels

GROUPS = ("positive", "missed", "negative")


def split_with_missed_boxes(cfg: Config) -> tuple[CocoDetection, int]:
    """(the training split without augmentation, K): the boxes ``cfg`` trains with keep their
    labels 0..K-1; each box its ``data.noise`` leaves out is there too, as label K + its class."""
    clean_cfg = copy.deepcopy(cfg)
    clean_cfg.data.noise = NoiseConfig()
    split = prepare_data(clean_cfg, ("train",), strict=False)[0]["train"]
    kept, left_out, _ = corrupt(split.coco, cfg.data.noise)
    categories = sorted(kept["categories"], key=lambda c: c["id"])
    offset = categories[-1]["id"] - categories[0]["id"] + 1  # missed ids sort after every real one, in order
    annotations = kept["annotations"] + [{**a, "category_id": a["category_id"] + offset} for a in left_out]
    images = kept["images"]
    if cfg.data.filter_empty:  # the images training saw: those with a box left after the noise
        seen = {a["image_id"] for a in kept["annotations"]}
        images = [im for im in images if im["id"] in seen]
    coco = {**kept, "images": images,
            "annotations": [{**a, "id": i + 1} for i, a in enumerate(annotations)],
            "categories": categories + [{**c, "id": c["id"] + offset, "name": f"missed {c['name']}"}
                                        for c in categories]}
    prepared = PreparedSplit(coco, split.root, f"{split.source} (training split, with its left-out boxes)")
    eval_cfg = copy.deepcopy(cfg)
    eval_cfg.data.filter_empty = False  # filtered above, on the kept boxes
    return build_dataset(eval_cfg, "train", train_transforms=False, prepared=prepared), len(categories)


def anchor_groups(matcher: AnchorMatcher, anchors: Tensor, targets: Targets, num_classes: int,
                  anchors_per_level: list[int] | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Split a batch's padded ``targets`` (labels >= ``num_classes``: a left-out box) into the
    boxes trained with and the ones left out, and match ``anchors`` (A, 4) to both.

    Returns (matches (N, A) against the kept boxes, as the criterion sees them; labels (N, A): the
    class of a positive, -1 elsewhere; missed (N, A) bool; missed_labels (N, A): the left-out
    box's class where missed)."""
    lost = targets["labels"] >= num_classes
    kept_targets = cast(Targets, {**targets, "valid": targets["valid"] & ~lost})
    lost_targets = cast(Targets, {**targets, "valid": targets["valid"] & lost,
                                  "labels": targets["labels"] - num_classes})
    matches, labels = match_labels(matcher, anchors, kept_targets, anchors_per_level)
    lost_matches, lost_labels = match_labels(matcher, anchors, lost_targets, anchors_per_level)
    missed = (matches == BACKGROUND) & (lost_matches >= 0)
    return matches, labels.masked_fill(matches < 0, -1), missed, lost_labels.clamp(min=0)


def missed_box_statistics(model: nn.Module, classification: Any, matcher: AnchorMatcher, loader: Iterable,
                          num_classes: int, device: torch.device, score_thresh: float) -> dict[str, Any]:
    """Per group (``GROUPS``): anchors, the summed object-class score, anchors scoring at least
    ``score_thresh``, loss and gradient sums; plus images and left-out boxes. Sums, not means, so
    that batches add up; ``summarise`` turns them into the report."""
    if getattr(classification, "needs_targets", False):
        raise ValueError(f"the missed-box instrument needs a loss computed from labels (focal, bce, balanced_ce, "
                         f"ohem, efl), not {type(classification).__name__}")
    model.eval()
    sums = {g: torch.zeros(5, dtype=torch.float64) for g in GROUPS}
    images_seen, boxes_left_out = 0, 0
    for images, targets in loader:
        with torch.no_grad():
            preds = model(images.to(device))
        anchors = preds["anchors"].cpu()
        on_cpu = cast(Targets, {k: v.cpu() for k, v in targets.items()})
        matches, labels, missed, missed_labels = anchor_groups(matcher, anchors, on_cpu, num_classes,
                                                               preds.get("anchors_per_level"))
        logits = preds["cls_logits"].detach().float().cpu().requires_grad_()  # (N, A, K)
        with torch.enable_grad():
            positive = matches >= 0
            _, per_anchor = classification(logits, labels, None, positive, matches != IGNORE, torch.ones(()))
            (grad,) = torch.autograd.grad(per_anchor.sum(), logits)
        probs = torch.sigmoid(logits.detach())
        scores = {"positive": probs.gather(-1, labels.clamp(min=0)[..., None])[..., 0],
                  "missed": probs.gather(-1, missed_labels[..., None])[..., 0],
                  "negative": probs.amax(-1)}
        masks = {"positive": positive, "missed": missed, "negative": (matches == BACKGROUND) & ~missed}
        gradient = grad.abs().sum(-1)  # (N, A)
        for g in GROUPS:
            m = masks[g].double()
            sums[g] += torch.stack([m.sum(), (scores[g] * m).sum(), ((scores[g] >= score_thresh) * m).sum(),
                                    (per_anchor.detach() * m).sum(), (gradient * m).sum()])
        images_seen += len(images)
        boxes_left_out += int((targets["valid"] & (targets["labels"] >= num_classes)).sum())
    return {"images": images_seen, "boxes_left_out": boxes_left_out,
            "sums": {g: dict(zip(("anchors", "score", "detected", "loss", "gradient"), v.tolist()))
                     for g, v in sums.items()}}


def summarise(stats: dict[str, Any]) -> dict[str, Any]:
    """Per group: anchors per image, mean score, share detected, share of all loss and gradient,
    and mean loss per anchor relative to an ordinary negative's."""
    sums = stats["sums"]
    total_loss = max(sum(s["loss"] for s in sums.values()), 1e-300)
    total_grad = max(sum(s["gradient"] for s in sums.values()), 1e-300)
    neg_loss = sums["negative"]["loss"] / max(sums["negative"]["anchors"], 1)
    out: dict[str, Any] = {"images": stats["images"], "boxes_left_out": stats["boxes_left_out"]}
    for g, s in sums.items():
        n = max(s["anchors"], 1)
        out[g] = {"anchors_per_image": s["anchors"] / max(stats["images"], 1), "mean_score": s["score"] / n,
                  "detected": s["detected"] / n, "loss_share": s["loss"] / total_loss,
                  "gradient_share": s["gradient"] / total_grad,
                  "loss_per_anchor_vs_negative": s["loss"] / n / max(neg_loss, 1e-300)}
    return out


def missed_report(det: Detector, out_dir: Path) -> str:
    """Measure ``det`` (its config's ``data.noise`` names the left-out boxes) on its training split;
    writes missed.json to ``out_dir`` and returns the table."""
    cfg = det.cfg
    if cfg.data.noise.missing <= 0:
        raise ValueError("--missed needs the boxes a run leaves out: the run has data.noise.missing=0; "
                         "give data.noise.missing=P (and data.noise.seed) to measure it on another run's")
    dataset, num_classes = split_with_missed_boxes(cfg)
    criterion = build_criterion(cfg.loss, cfg.matcher, dataset.class_counts()[:num_classes], cfg.model.anchors)
    loader = build_loader(dataset, cfg.train.batch_size, cfg.train.num_workers)
    matcher = build_matcher(cfg.matcher, cfg.model.anchors.per_location)
    stats = missed_box_statistics(det.model, criterion.classification, matcher, loader,
                                  num_classes, det.device, cfg.inference.score_thresh)
    summary = {"loss": cfg.loss.cls, "noise": dataclasses.asdict(cfg.data.noise), **summarise(stats)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "missed.json").write_text(json.dumps(summary, indent=1))
    lines = [f"left-out boxes (data.noise.missing={cfg.data.noise.missing}, seed {cfg.data.noise.seed}): "
             f"{summary['boxes_left_out']} on {summary['images']} training images; loss.cls={cfg.loss.cls}",
             f"  group     anchors/image  mean score  >= {cfg.inference.score_thresh:<5}  loss share  "
             "gradient share  loss/anchor vs negative"]
    for g in GROUPS:
        s = summary[g]
        lines.append(f"  {g:<8}  {s['anchors_per_image']:13.1f}  {s['mean_score']:10.3f}  {s['detected']:8.3f}  "
                     f"{s['loss_share']:10.3f}  {s['gradient_share']:14.3f}  {s['loss_per_anchor_vs_negative']:23.1f}")
    lines.append(f"wrote {out_dir / 'missed.json'}")
    return "\n".join(lines)
