"""Imbalance instruments for a trained checkpoint: where the loss sits (the paper's Figure 4) and how
well the scores are calibrated (reliability diagram, expected calibration error).

Loss distribution: every (anchor, class) output of the validation set is one sample; a positive is
the ground-truth class of a positive anchor, a negative any class of a background anchor. For each
gamma, FL = -(1 - p_t)^gamma log(p_t) per sample; sorted ascending and normalised, its cumulative sum
shows how concentrated the loss is. Computed on the model's fixed predictions, as in the paper.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn

from detector.core.boxes import BACKGROUND, AnchorMatcher
from detector.evaluation.coco_eval import load_results
from detector.losses.criterion import match_labels

GAMMAS = (0.0, 0.5, 1.0, 2.0)


@torch.no_grad()
def anchor_probabilities(model: nn.Module, loader: Iterable, matcher: AnchorMatcher, device: torch.device,
                         max_neg_per_image: int = 50_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(p of positives for their class, p of negatives) over ``loader``; negatives beyond
    ``max_neg_per_image`` per image are a uniform random sample (the distribution is kept)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    pos, neg = [], []
    for images, targets in loader:
        preds = model(images.to(device))
        probs = torch.sigmoid(preds["cls_logits"].float()).cpu()  # (N, A, K)
        # (N, A) each
        matches, labels = match_labels(matcher, preds["anchors"].cpu(), targets, preds.get("anchors_per_level"))
        for i in range(len(images)):  # per image only to subsample; all tensor ops inside
            positive = matches[i] >= 0
            pos.append(probs[i][positive].gather(1, labels[i][positive][:, None]).flatten())
            n = probs[i][matches[i] == BACKGROUND].flatten()
            if len(n) > max_neg_per_image:
                n = n[torch.randperm(len(n), generator=gen)[:max_neg_per_image]]
            neg.append(n)
    return torch.cat(pos).numpy(), torch.cat(neg).numpy()


def focal_per_sample(p_t: np.ndarray, gamma: float) -> np.ndarray:
    p_t = np.clip(p_t.astype(np.float64), 1e-12, 1.0)
    return -((1 - p_t) ** gamma) * np.log(p_t)


def cumulative_curve(losses: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of samples, normalised cumulative loss) with samples sorted by increasing loss."""
    if len(losses) == 0:
        return np.zeros(1), np.zeros(1)
    c = np.cumsum(np.sort(losses))
    c = c / max(c[-1], 1e-300)
    x = np.linspace(0, 1, points)
    idx = np.clip((x * (len(c) - 1)).round().astype(int), 0, len(c) - 1)
    return x, c[idx]


def hardest_share(losses: np.ndarray, fraction: float) -> float:
    """Share of the total loss carried by the hardest ``fraction`` of samples."""
    if len(losses) == 0 or losses.sum() <= 0:
        return float("nan")
    k = max(1, int(round(fraction * len(losses))))
    return float(np.sort(losses)[-k:].sum() / losses.sum())


def loss_distribution(p_pos: np.ndarray, p_neg: np.ndarray, gammas: tuple[float, ...] = GAMMAS) -> dict[str, Any]:
    """Per gamma: curves for positives and negatives, and the hardest 1% / 10% shares."""
    out: dict[str, Any] = {"num_positive": int(len(p_pos)), "num_negative": int(len(p_neg)), "gamma": {}}
    for g in gammas:
        lp, ln = focal_per_sample(p_pos, g), focal_per_sample(1 - p_neg, g)
        out["gamma"][str(g)] = {
            "neg_hardest_1pct": hardest_share(ln, 0.01), "neg_hardest_10pct": hardest_share(ln, 0.10),
            "pos_hardest_10pct": hardest_share(lp, 0.10), "pos_hardest_50pct": hardest_share(lp, 0.50),
            "neg_share_of_total": float(ln.sum() / max(ln.sum() + lp.sum(), 1e-300)),
            "pos_curve": [c.tolist() for c in cumulative_curve(lp)],
            "neg_curve": [c.tolist() for c in cumulative_curve(ln)],
        }
    return out


def calibration(coco_gt: COCO, detections: list[dict[str, Any]], bins: int = 10, iou: float = 0.5
                ) -> dict[str, Any]:
    """Reliability of detection scores: each detection is correct if it is a COCO true positive
    at IoU ``iou`` (greedy by score, crowd matches excluded); per score bin the precision against
    the mean score, and ECE = sum_b n_b / N |precision_b - score_b|."""
    if not detections:
        return {"ece": float("nan"), "num_detections": 0, "bins": []}
    ev = COCOeval(coco_gt, load_results(coco_gt, detections), iouType="bbox")
    ev.params.iouThrs = np.array([iou])
    ev.params.areaRng, ev.params.areaRngLbl = [ev.params.areaRng[0]], ["all"]
    ev.params.maxDets = [max(Counter(d["image_id"] for d in detections).values())]  # every detection
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
    score_list: list[float] = []
    correct_list: list[bool] = []
    for e in ev.evalImgs:
        if e is None:
            continue
        keep = ~np.asarray(e["dtIgnore"][0], dtype=bool)
        score_list += list(np.asarray(e["dtScores"])[keep])
        correct_list += list((np.asarray(e["dtMatches"][0]) > 0)[keep])
    scores, correct = np.asarray(score_list), np.asarray(correct_list, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (scores >= lo) & ((scores < hi) | (hi == 1.0))
        if inside.any():
            conf, acc = float(scores[inside].mean()), float(correct[inside].mean())
            ece += inside.sum() / len(scores) * abs(acc - conf)
            rows.append({"lo": float(lo), "hi": float(hi), "count": int(inside.sum()), "score": conf,
                         "precision": acc})
    return {"ece": float(ece), "num_detections": int(len(scores)), "bins": rows}
