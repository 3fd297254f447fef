"""VOC AP50 against a hand-computed example: duplicates, difficult objects, a missed class."""

import pytest

from detector.data.coco import coco_from_dict
from detector.evaluation.voc_eval import voc_evaluate


def test_voc_ap_by_hand():
    gt = coco_from_dict({
        "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "area": 100, "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 3, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
        ]})
    det = [
        (0.9, 1, [0, 0, 10, 10]),  # true positive
        (0.8, 1, [0, 0, 10, 10]),  # duplicate: false positive
        (0.7, 1, [20, 20, 10, 10]),  # on the difficult box: ignored
        (0.6, 2, [50, 50, 10, 10]),  # nothing there: false positive
        (0.5, 2, [1, 0, 10, 10]),  # true positive (IoU 0.82)
    ]
    dets = [{"image_id": i, "category_id": 1, "bbox": b, "score": s} for s, i, b in det]
    dets.append({"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.9})  # class without GT
    out = voc_evaluate(gt, dets)
    # recall .5 .5 .5 .5 1 / precision 1 .5 .5 .33 .5: envelope area .5 * 1 + .5 * .5
    assert out["per_class"]["a"]["VOC_AP50"] == pytest.approx(0.75)
    # 11 points: six recall thresholds <= .5 at precision 1, five above at .5
    assert out["per_class"]["a"]["VOC07_AP50"] == pytest.approx(8.5 / 11)
    assert out["per_class"]["b"] == {"VOC07_AP50": -1.0, "VOC_AP50": -1.0}
    assert out["per_class"]["c"]["VOC_AP50"] == 0.0
    assert out["VOC_AP50"] == pytest.approx(0.75 / 2)


def test_ground_truth_as_detections_is_perfect():
    anns = [{"id": i + 1, "image_id": 1 + i % 3, "category_id": 1 + i % 2, "bbox": [i * 7, i * 5, 12, 9],
             "area": 108, "iscrowd": 0} for i in range(9)]
    gt = coco_from_dict({"images": [{"id": i} for i in (1, 2, 3)],
                         "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "annotations": anns})
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in anns]
    out = voc_evaluate(gt, dets)
    assert out["VOC_AP50"] == pytest.approx(1.0) and out["VOC07_AP50"] == pytest.approx(1.0)
