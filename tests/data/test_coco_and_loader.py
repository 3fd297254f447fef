import json

import numpy as np
import pytest
import torch

from detector.core.config import AugmentConfig, SyntheticConfig
from detector.data.build import build_dataset, collate
from detector.data.coco import CocoDetection
from detector.data.draft import judge_box
from detector.data.synthetic import ensure_synthetic, render_image
from detector.data.transforms import DetectionTransform
from tests.conftest import tiny_config, write_coco


def test_synthetic_is_deterministic_and_boxes_are_tight():
    cfg = SyntheticConfig(image_size=96, size_range=[12.0, 30.0], textured_background=False,
                          distractors_per_image=[0, 0], empty_fraction=0.0)
    a, objs_a = render_image(cfg, 3, "train")
    b, objs_b = render_image(cfg, 3, "train")
    assert np.array_equal(np.asarray(a), np.asarray(b)) and objs_a == objs_b
    assert objs_a, "non-empty image expected"
    background = np.asarray(a)[0, 0]
    _, (x0, y0, x1, y1) = objs_a[0]
    img = np.asarray(a).astype(int)
    # the object's pixels reach every side of its box (square/circle/triangle all touch them)
    region = np.abs(img[int(y0):int(y1), int(x0):int(x1)] - background).sum(-1) > 0
    assert region[:, 0].any() and region[:, -1].any() and region[0].any() and region[-1].any()


def test_ensure_synthetic_writes_coco_and_reuses(tmp_path):
    cfg = SyntheticConfig(num_train=3, num_val=2, image_size=64, size_range=[10.0, 20.0])
    root = ensure_synthetic(cfg, tmp_path / "s")
    train = json.loads((root / "annotations" / "train.json").read_text())
    assert len(train["images"]) == 3 and [c["name"] for c in train["categories"]] == cfg.classes
    stamp = (root / "train" / "000000.png").stat().st_mtime_ns
    ensure_synthetic(cfg, root)
    assert (root / "train" / "000000.png").stat().st_mtime_ns == stamp  # not regenerated
    cfg.num_train = 4
    ensure_synthetic(cfg, root)
    assert len(json.loads((root / "annotations" / "train.json").read_text())["images"]) == 4


def test_coco_contract_non_contiguous_ids_and_degenerate_boxes(tmp_path):
    cats = [{"id": 3, "name": "cat"}, {"id": 17, "name": "dog"}]
    anns = [{"image_id": 1, "category_id": 17, "bbox": [10, 10, 20, 30]},
            {"image_id": 1, "category_id": 3, "bbox": [50, 40, 30, 30]},  # extends past the image: clipped
            {"image_id": 1, "category_id": 3, "bbox": [5, 5, 0, 10]}]  # zero width: dropped
    ann = write_coco(tmp_path, [("a.png", (64, 48)), ("b.png", (32, 32))], anns, cats)
    with pytest.warns(UserWarning, match="dropped 1 degenerate boxes"):
        ds = CocoDetection(tmp_path / "images", ann)
    assert ds.cat_ids == [3, 17] and ds.class_names == ["cat", "dog"]
    image, target = ds[0]
    assert image.shape == (48, 64, 3)  # no transform: raw RGB array
    assert target["labels"].tolist() == [1, 0]
    np.testing.assert_allclose(target["boxes"], [[10, 10, 30, 40], [50, 40, 64, 48]])
    _, empty = ds[1]
    assert empty["boxes"].shape == (0, 4)


def test_letterbox_scales_boxes_and_pads():
    lb = DetectionTransform(AugmentConfig(image_size=64, hflip_prob=0.0), train=True)
    image = np.zeros((50, 100, 3), np.uint8)
    out, boxes, labels, crowd, scale = lb(image, np.array([[10, 10, 30, 20]], np.float32), np.array([2]),
                                          np.array([False]))
    assert out.shape == (3, 64, 64) and scale == 0.64
    torch.testing.assert_close(boxes, torch.tensor([[6.4, 6.4, 19.2, 12.8]]), atol=0.05, rtol=0)
    assert labels.tolist() == [2] and crowd.tolist() == [False]


def test_dataset_items_and_collate(tmp_path):
    cfg = tiny_config(tmp_path)
    ds = build_dataset(cfg, "train")
    items = [ds[i] for i in range(3)]
    images, targets = collate(items)
    assert images.shape == (3, 3, 96, 96) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    m = max(len(t["labels"]) for _, t in items)
    assert targets["boxes"].shape == (3, m, 4)
    assert targets["valid"].sum().item() == sum(len(t["labels"]) for _, t in items)
    assert targets["image_id"].tolist() == [t["image_id"] for _, t in items]
    assert targets["scale"].tolist() == [1.0, 1.0, 1.0]


def test_shortest_edge_resize_caps_the_long_side():
    lb = DetectionTransform(AugmentConfig(resize="shortest_edge", image_size=40, max_size=60, hflip_prob=0.0), train=False)
    out, boxes, _, _, scale = lb(np.zeros((50, 100, 3), np.uint8), np.array([[10, 10, 30, 20]], np.float32),
                                 np.array([0]), np.array([False]))
    assert scale == 0.6 and out.shape == (3, 30, 60)  # 40/50 would make the long side 80 > 60
    torch.testing.assert_close(boxes, torch.tensor([[6.0, 6.0, 18.0, 12.0]]), atol=1e-4, rtol=0)


def test_coco_images_without_annotations_are_negatives_unless_filtered(tmp_path):
    cats = [{"id": 1, "name": "a"}]
    ann = write_coco(tmp_path, [("a.png", (32, 32)), ("b.png", (32, 32))],
                     [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}], cats)
    assert len(CocoDetection(tmp_path / "images", ann)) == 2
    with pytest.warns(UserWarning, match="left out 1 images without annotations"):
        assert len(CocoDetection(tmp_path / "images", ann, filter_empty=True)) == 1


@pytest.mark.parametrize("bad_ann, message", [
    ({"image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}, "category_id 9, not one of the categories"),
    ({"image_id": 1, "category_id": 1, "bbox": [1, 1, 5]}, r"bbox \[1, 1, 5\]; expected"),
    ({"image_id": 1, "category_id": 1, "bbox": [1, 1, "w", 5]}, "expected .x, y, width, height"),
])
def test_bad_coco_annotations_name_the_file_and_id(tmp_path, bad_ann, message):
    ann = write_coco(tmp_path, [("a.png", (32, 32))], [bad_ann], [{"id": 1, "name": "a"}])
    with pytest.raises(ValueError, match=message) as info:
        CocoDetection(tmp_path / "images", ann)
    assert "ann.json" in str(info.value) and "annotation id 1" in str(info.value)


def test_nan_boxes_are_dropped_and_counted(tmp_path):
    ann = write_coco(tmp_path, [("a.png", (32, 32))],
                     [{"image_id": 1, "category_id": 1, "bbox": [float("nan"), 1, 5, 5]}], [{"id": 1, "name": "a"}])
    with pytest.warns(UserWarning, match="dropped 1 degenerate"):
        ds = CocoDetection(tmp_path / "images", ann)
    assert ds[0][1]["boxes"].shape == (0, 4)


def test_malformed_json_is_a_clear_error(tmp_path):
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(ValueError, match="broken.json' is not valid JSON"):
        CocoDetection(tmp_path, tmp_path / "broken.json")
    (tmp_path / "odd.json").write_text('{"images": [{"file_name": "x.png"}]}')
    with pytest.raises(ValueError, match="odd.json' is not in COCO format"):
        CocoDetection(tmp_path, tmp_path / "odd.json")


BOXES = [  # [x, y, w, h] in a 40 x 30 image, each of the kinds judge_box tells apart
    [5, 5, 10, 10],  # inside
    [-0.5, 2, 10, 10],  # out by rounding: clipped, not reported
    [30, 20, 20, 20],  # reaching outside: clipped and reported
    [50, 5, 10, 10],  # no area inside: degenerate
    [5, 5, -3, 4],  # a negative side
    [5, 5, float("inf"), 4],  # not finite
]


def test_one_function_judges_a_box_for_the_report_and_the_dataset(tmp_path):
    """What the scan reports and what the dataset trains on both come from draft.judge_box."""
    verdicts = [judge_box([float(v) for v in b], 40, 30) for b in BOXES]
    assert [p[0] if p else None for _, p in verdicts] == [None, None, "outside_box", "degenerate_box",
                                                          "bad_annotation", "bad_annotation"]
    assert verdicts[2][0] == [30.0, 20.0, 40.0, 30.0] and verdicts[1][0] == [0.0, 2.0, 9.5, 12.0]
    ann = write_coco(tmp_path, [("a.png", (40, 30))],
                     [{"image_id": 1, "category_id": 1, "bbox": b} for b in BOXES[:4]], [{"id": 1, "name": "x"}])
    with pytest.warns(UserWarning, match="dropped 1 degenerate boxes.*clipped 2 boxes"):
        ds = CocoDetection(tmp_path / "images", ann)
    boxes, _, _ = ds.annotations(ds.image_ids[0])
    assert boxes.tolist() == [v[0] for v in verdicts[:4] if v[0] is not None]
