"""COCO evaluation time, pycocotools vs faster-coco-eval, on the same ground truth and detections.

    python -m benchmarks.coco_eval --images 3000 --boxes 5 --dets 64

Builds a random COCO set (3 classes, ``--boxes`` per image) and ``--dets`` noisy detections per
image (jittered copies of the ground truth, a third with the wrong class), then times the same
``detector.evaluation.coco_eval.coco_evaluate`` call with each backend (results loading included),
alternating, and checks that the 12 stats agree. Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import numpy as np
from pycocotools.coco import COCO

from benchmarks.setups import median_times
from detector.evaluation.coco_eval import STAT_KEYS, coco_evaluate


def random_set(num_images: int, boxes: int, dets: int, seed: int = 0) -> tuple[COCO, list[dict]]:
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 640, "height": 480, "file_name": f"{i}.jpg"} for i in range(num_images)]
    wh = rng.uniform(5, 200, (num_images, boxes, 2))
    xy = rng.uniform(0, 1, (num_images, boxes, 2)) * (np.array([640, 480]) - wh)
    gt_xywh = np.concatenate([xy, wh], axis=-1)
    gt_cls = rng.integers(1, 4, (num_images, boxes))
    anns = [{"id": i * boxes + j + 1, "image_id": i + 1, "category_id": int(gt_cls[i, j]),
             "bbox": gt_xywh[i, j].tolist(), "area": float(wh[i, j].prod()), "iscrowd": 0}
            for i in range(num_images) for j in range(boxes)]
    src = rng.integers(0, boxes, (num_images, dets))
    base = np.take_along_axis(gt_xywh, src[..., None], axis=1)
    noisy = base + rng.normal(0, 0.15, base.shape) * np.repeat(base[..., 2:], 2, axis=-1)
    noisy[..., 2:] = np.abs(noisy[..., 2:])
    cls = np.where(rng.random((num_images, dets)) < 2 / 3, np.take_along_axis(gt_cls, src, axis=1),
                   rng.integers(1, 4, (num_images, dets)))
    scores = rng.random((num_images, dets))
    results = [{"image_id": i + 1, "category_id": int(cls[i, j]), "bbox": noisy[i, j].tolist(),
                "score": float(scores[i, j])} for i in range(num_images) for j in range(dets)]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--boxes", type=int, default=5)
    p.add_argument("--dets", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    coco, results = random_set(args.images, args.boxes, args.dets)
    stats = {}

    def run(backend: str):
        return lambda: stats.__setitem__(backend, coco_evaluate(coco, results, backend=backend)[0])
    secs = median_times({b: run(b) for b in ("pycocotools", "faster_coco_eval")}, args.reps, warmup=0)
    diff = max(abs(stats["pycocotools"][k] - stats["faster_coco_eval"][k]) for k in STAT_KEYS)
    print(json.dumps({
        "benchmark": "coco_eval", "images": args.images, "gt_boxes": args.images * args.boxes,
        "detections": len(results), "seconds": {k: round(v, 2) for k, v in secs.items()},
        "speedup": round(secs["pycocotools"] / secs["faster_coco_eval"], 2),
        "max_stat_difference": diff, "AP": round(stats["pycocotools"]["AP"], 4),
    }, indent=1))


if __name__ == "__main__":
    main()
