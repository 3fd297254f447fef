"""COCO box metrics with pycocotools: the 12 standard stats and per-class AP."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def load_results(coco_gt: COCO, detections: list[dict[str, Any]]) -> COCO:
    """A COCO object for ``detections`` (COCO results format) against ``coco_gt``'s images."""
    if not detections:
        empty = COCO()
        empty.dataset = {"images": coco_gt.dataset["images"], "categories": copy.deepcopy(
            coco_gt.dataset["categories"]), "annotations": []}
        with contextlib.redirect_stdout(io.StringIO()):
            empty.createIndex()
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_gt.loadRes(copy.deepcopy(detections))


def coco_evaluate(coco_gt: COCO, detections: list[dict[str, Any]], image_ids: list[int] | None = None
                  ) -> tuple[dict[str, float], dict[str, float], str]:
    """Score COCO-format ``detections`` (``image_id``, ``category_id``, ``bbox`` xywh, ``score``).

    Returns (stats keyed by STAT_KEYS as fractions in 0..1, AP per category name, printed table).
    Metrics undefined for lack of ground truth (e.g. no large objects) are reported as -1, as
    pycocotools does.
    """
    coco_dt = load_results(coco_gt, detections)
    evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = {k: float(v) for k, v in zip(STAT_KEYS, evaluator.stats)}
    return stats, per_class_ap(evaluator, coco_gt), buffer.getvalue()


def per_class_ap(evaluator: COCOeval, coco_gt: COCO) -> dict[str, float]:
    """AP@[.5:.95] per category (area all, 100 detections); -1 for classes with no ground truth."""
    precision = evaluator.eval["precision"]  # (T, R, K, areas, maxDets)
    out = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        out[coco_gt.cats[cat_id]["name"]] = float(np.mean(valid)) if valid.size else -1.0
    return out


def format_table(stats: dict[str, float], per_class: dict[str, float] | None = None) -> str:
    """A compact two-line metrics table, plus one line per class if given."""
    head = " ".join(f"{k:>6}" for k in STAT_KEYS)
    vals = " ".join(f"{stats[k]:6.3f}" for k in STAT_KEYS)
    lines = [head, vals]
    if per_class:
        width = max(len(n) for n in per_class)
        lines.append("per-class AP:")
        lines += [f"  {name:<{width}} {ap:6.3f}" for name, ap in per_class.items()]
    return "\n".join(lines)
