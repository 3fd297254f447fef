"""Pascal VOC AP at IoU 0.5 per class, as the VOC devkit computes it, from COCO-format inputs.

Crowd boxes (``iscrowd``, which is what VOC ``difficult`` objects become here) are the devkit's
difficult objects: a detection whose best match is one counts as neither true nor false positive,
and they do not count towards recall. Each detection is matched to the ground-truth box of its
class it overlaps most; if that box is already taken the detection is a false positive (devkit
rule). Two AP definitions: VOC2007's 11-point interpolation and VOC2010+'s area under the
monotone precision envelope ("all-point").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO

from detector.core.boxes import pairwise_iou, xywh_to_xyxy


def average_precision(recall: np.ndarray, precision: np.ndarray, use_07: bool) -> float:
    """AP from a precision/recall curve (detections in decreasing score order)."""
    if use_07:
        return float(np.mean([precision[recall >= t].max(initial=0.0) for t in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _class_ap(gts: dict[int, tuple[np.ndarray, np.ndarray]], dets: list[tuple[float, int, np.ndarray]],
              iou_thresh: float) -> tuple[float, float]:
    """(AP 11-point, AP all-point) of one class. gts: image -> (boxes (G, 4), difficult (G,))."""
    npos = sum(int((~d).sum()) for _, d in gts.values())
    if npos == 0:
        return -1.0, -1.0
    dets = sorted(dets, key=lambda d: -d[0])
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    taken = {img: np.zeros(len(b), dtype=bool) for img, (b, _) in gts.items()}
    rows: dict[int, list[int]] = defaultdict(list)  # image -> its detections' positions in ``dets``
    for i, (_, img, _) in enumerate(dets):
        rows[img].append(i)
    # detection position -> (G,) IoU with its image's boxes, one IoU call per image
    overlaps: dict[int, np.ndarray] = {}
    for img, positions in rows.items():
        if img in gts and len(gts[img][0]):
            boxes = torch.from_numpy(np.stack([dets[i][2] for i in positions]))
            table = pairwise_iou(boxes, torch.from_numpy(gts[img][0])).numpy()
            overlaps.update(zip(positions, table))
    for i, (_, img, _box) in enumerate(dets):
        if i not in overlaps:
            fp[i] = 1
            continue
        difficult = gts[img][1]
        iou = overlaps[i]
        j = int(iou.argmax())
        if iou[j] < iou_thresh:
            fp[i] = 1
        elif difficult[j]:
            continue
        elif taken[img][j]:
            fp[i] = 1
        else:
            tp[i] = taken[img][j] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / npos
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return average_precision(recall, precision, True), average_precision(recall, precision, False)


def voc_evaluate(coco_gt: COCO, detections: list[dict[str, Any]], image_ids: list[int] | None = None,
                 iou_thresh: float = 0.5) -> dict[str, Any]:
    """VOC AP50 of COCO-format ``detections`` against ``coco_gt``.

    Returns ``VOC07_AP50`` and ``VOC_AP50`` (means over classes with ground truth) and
    ``per_class`` {class name: {"VOC07_AP50", "VOC_AP50"}} (-1 for a class without ground truth).
    """
    ids = set(image_ids if image_ids is not None else coco_gt.getImgIds())
    gts: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for cat in coco_gt.getCatIds():
        by_image = defaultdict(list)
        for ann in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=list(ids), catIds=[cat])):
            by_image[ann["image_id"]].append((xywh_to_xyxy(ann["bbox"]), bool(ann.get("iscrowd", 0))))
        for img, rows in by_image.items():
            gts[cat][img] = (np.array([r[0] for r in rows], dtype=np.float64), np.array([r[1] for r in rows]))
    dets: dict[int, list] = defaultdict(list)
    for d in detections:
        if d["image_id"] in ids:
            dets[d["category_id"]].append((d["score"], d["image_id"], np.array(xywh_to_xyxy(d["bbox"]), np.float64)))
    per_class = {}
    for cat in coco_gt.getCatIds():
        ap07, ap = _class_ap(gts.get(cat, {}), dets.get(cat, []), iou_thresh)
        per_class[coco_gt.cats[cat]["name"]] = {"VOC07_AP50": ap07, "VOC_AP50": ap}
    valid = [v for v in per_class.values() if v["VOC_AP50"] >= 0]
    return {
        "VOC07_AP50": float(np.mean([v["VOC07_AP50"] for v in valid])) if valid else -1.0,
        "VOC_AP50": float(np.mean([v["VOC_AP50"] for v in valid])) if valid else -1.0,
        "per_class": per_class,
    }
