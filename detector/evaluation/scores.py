"""How a detector's scores rank its detections: true positives vs cross-class and other false positives.

AP only sees the ranking of scores; this report shows where scores sit. Each detection (highest
score first, per image) is a true positive if it overlaps an unclaimed ground-truth box of its own
class at IoU >= ``iou``, a cross-class false positive if it overlaps a box of another class that
well, and an other false positive otherwise (background, duplicate or poor localisation).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from torchvision.ops import box_convert

from detector.core.boxes import pairwise_iou


def _xyxy(boxes: list[list[float]]) -> torch.Tensor:
    return box_convert(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "xywh", "xyxy")


def _classify_image(dets: list[dict[str, Any]], anns: list[dict[str, Any]], iou: float) -> list[str]:
    """One of "tp", "cross", "fp" per detection of one image, in decreasing score order."""
    if not anns:
        return ["fp"] * len(dets)
    overlaps = pairwise_iou(_xyxy([d["bbox"] for d in dets]), _xyxy([a["bbox"] for a in anns]))  # (D, G)
    gt_cls = torch.tensor([a["category_id"] for a in anns])
    claimed = torch.zeros(len(anns), dtype=torch.bool)
    kinds = []
    for row, det in zip(overlaps, dets):
        same = (gt_cls == det["category_id"]) & ~claimed & (row >= iou)
        if same.any():
            claimed[torch.where(same, row, -1.0).argmax()] = True
            kinds.append("tp")
        elif ((gt_cls != det["category_id"]) & (row >= iou)).any():
            kinds.append("cross")
        else:
            kinds.append("fp")
    return kinds


def score_report(coco_gt: COCO, detections: list[dict[str, Any]], iou: float = 0.5,
                 min_score: float = 0.05) -> dict[str, Any]:
    """Counts and score quantiles (10/50/90%) of true positives, cross-class and other false positives."""
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in detections:
        if d["score"] >= min_score:
            by_image[d["image_id"]].append(d)
    scores: dict[str, list[float]] = {"tp": [], "cross": [], "fp": []}
    for image_id, dets in by_image.items():
        dets.sort(key=lambda d: -d["score"])
        anns = [a for a in coco_gt.imgToAnns.get(image_id, []) if not a.get("iscrowd", 0)]
        for kind, det in zip(_classify_image(dets, anns, iou), dets):
            scores[kind].append(det["score"])
    num_gt = sum(1 for a in coco_gt.dataset["annotations"] if not a.get("iscrowd", 0))
    report: dict[str, Any] = {"num_gt": num_gt, "iou": iou, "min_score": min_score}
    for kind, values in scores.items():
        q = np.percentile(values, [10, 50, 90]).round(3).tolist() if values else [None] * 3
        report[kind] = {"count": len(values), "p10": q[0], "median": q[1], "p90": q[2],
                        "max": round(max(values), 3) if values else None}
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [f"scores of detections >= {report['min_score']} at IoU {report['iou']} "
             f"({report['num_gt']} ground-truth boxes):"]
    names = {"tp": "true positives", "cross": "cross-class false positives", "fp": "other false positives"}
    for kind, name in names.items():
        r = report[kind]
        lines.append(f"  {name:<28} {r['count']:>7}  p10 {r['p10']}  median {r['median']}  p90 {r['p90']}  "
                     f"max {r['max']}")
    return "\n".join(lines)
