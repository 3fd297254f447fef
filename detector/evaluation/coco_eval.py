"""COCO box metrics: the 12 standard stats and per-class AP.

Two interchangeable backends score the same pycocotools ground truth and results objects:
``faster_coco_eval`` (C++ matching and accumulation, the default) and ``pycocotools`` (the reference).
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

BACKENDS = ("faster_coco_eval", "pycocotools")

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


def _evaluator_class(backend: str) -> type:
    if backend == "pycocotools":
        return COCOeval
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCOeval_faster
        return COCOeval_faster
    raise ValueError(f"unknown COCO evaluation backend '{backend}'; choose from {BACKENDS}")


def coco_evaluate(coco_gt: COCO, detections: list[dict[str, Any]], image_ids: list[int] | None = None,
                  backend: str = "faster_coco_eval"
                  ) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Score COCO-format ``detections`` (``image_id``, ``category_id``, ``bbox`` xywh, ``score``).

    Returns (stats keyed by STAT_KEYS as fractions in 0..1, AP per category name, precision at
    IoU 0.5 per category name: (101,) at recall 0, 0.01, ..., 1, -1 where undefined).
    Metrics undefined for lack of ground truth (e.g. no large objects) are reported as -1, as
    pycocotools does.
    """
    coco_dt = load_results(coco_gt, detections)
    evaluator = _evaluator_class(backend)(coco_gt, coco_dt, iouType="bbox")
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = {k: float(v) for k, v in zip(STAT_KEYS, evaluator.stats)}
    precision = evaluator.eval["precision"]  # (T, R, K, areas, maxDets); T[0] is IoU 0.5
    pr50 = {coco_gt.cats[c]["name"]: np.asarray(precision[0, :, k, 0, -1])
            for k, c in enumerate(evaluator.params.catIds)}
    return stats, per_class_ap(evaluator, coco_gt), pr50


def per_class_ap(evaluator: Any, coco_gt: COCO) -> dict[str, float]:
    """AP@[.5:.95] per category (area all, 100 detections); -1 for classes with no ground truth."""
    precision = evaluator.eval["precision"]  # (T, R, K, areas, maxDets)
    out = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        out[coco_gt.cats[cat_id]["name"]] = float(np.mean(valid)) if valid.size else -1.0
    return out


def format_table(stats: dict[str, float], per_class: dict[str, float] | None = None,
                 voc: dict[str, Any] | None = None) -> str:
    """A compact two-line COCO table, then per-class AP (and VOC AP50, 07 11-point and all-point)."""
    head = " ".join(f"{k:>6}" for k in STAT_KEYS)
    vals = " ".join(f"{stats[k]:6.3f}" for k in STAT_KEYS)
    lines = [head, vals]
    if voc:
        lines.append(f"VOC AP50: {voc['VOC_AP50']:.3f} (all-point), {voc['VOC07_AP50']:.3f} (VOC07 11-point)")
    if per_class:
        width = max(len(n) for n in per_class)
        lines.append(f"  {'class':<{width}}     AP" + ("  VOC AP50  VOC07 AP50" if voc else ""))
        for name, ap in per_class.items():
            extra = ""
            if voc:
                v = voc["per_class"][name]
                extra = f"  {v['VOC_AP50']:8.3f}  {v['VOC07_AP50']:10.3f}"
            lines.append(f"  {name:<{width}} {ap:6.3f}{extra}")
    return "\n".join(lines)


def metrics_dict(stats: dict[str, float], per_class: dict[str, float], voc: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The metrics JSON layout: STAT_KEYS, ``per_class_AP`` and, if given, the VOC AP50 figures."""
    out: dict[str, Any] = {**stats, "per_class_AP": per_class}
    if voc:
        out["VOC_AP50"], out["VOC07_AP50"] = voc["VOC_AP50"], voc["VOC07_AP50"]
        out["per_class_VOC_AP50"] = {k: v["VOC_AP50"] for k, v in voc["per_class"].items()}
        out["per_class_VOC07_AP50"] = {k: v["VOC07_AP50"] for k, v in voc["per_class"].items()}
    return out
