"""Annotation noise on purpose (data.noise) and the synthetic benchmark's separate validation class mix."""

import copy
import json

import pytest

from detector.core.config import NoiseConfig
from detector.data.noise import corrupt
from tests.conftest import prepare, tiny_config


def coco_of(boxes: int) -> dict:
    images = [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 80} for i in range(1, 11)]
    anns = [{"id": j, "image_id": 1 + j % 10, "category_id": 1 + j % 3, "bbox": [10.0, 10.0, 30.0, 20.0],
             "area": 600.0, "iscrowd": int(j == 0)} for j in range(boxes)]
    return {"images": images, "annotations": anns, "categories": [{"id": k, "name": str(k)} for k in (1, 2, 3)]}


def test_missing_boxes_are_left_out_at_the_rate_asked_and_crowd_is_kept():
    coco = coco_of(2000)
    original = copy.deepcopy(coco)
    out, left_out, note = corrupt(coco, NoiseConfig(missing=0.3, seed=1))
    assert coco == original  # the input is not modified
    dropped = 2000 - len(out["annotations"])
    assert len(left_out) == dropped and not any(a["iscrowd"] for a in left_out)
    ids = sorted(a["id"] for a in out["annotations"] + left_out)
    assert ids == list(range(2000))  # kept and left out are the whole set, each box once
    assert 540 < dropped < 660  # Binomial(1999, 0.3): mean 600, std 20
    assert any(a["iscrowd"] for a in out["annotations"])
    assert f"{dropped} left out" in note
    again, _, _ = corrupt(coco, NoiseConfig(missing=0.3, seed=1))
    assert again == out  # deterministic in the seed
    assert corrupt(coco, NoiseConfig(missing=0.3, seed=2))[0] != out


def test_swapped_labels_always_change_class_and_jitter_stays_inside_the_image():
    coco = coco_of(300)
    out, _, _ = corrupt(coco, NoiseConfig(swap=1.0, jitter=0.5))
    for before, after in zip(coco["annotations"][1:], out["annotations"][1:]):
        assert after["category_id"] != before["category_id"] and after["category_id"] in (1, 2, 3)
        x, y, w, h = after["bbox"]
        assert 0 <= x and x + w <= 100 and 0 <= y and y + h <= 80 and w >= 1 and h >= 1
        assert after["area"] == pytest.approx(w * h)
    assert sum(a["bbox"] != [10.0, 10.0, 30.0, 20.0] for a in out["annotations"]) == 299  # all but the crowd box


def test_noise_reaches_the_training_split_only(tmp_path):
    cfg = tiny_config(tmp_path, num_train=20, objects_per_image="[2,4]")
    clean, _ = prepare(cfg, ("train", "val"))
    cfg.data.noise.missing = 0.5
    noisy, report = prepare(cfg, ("train", "val"))
    assert len(noisy["train"]["annotations"]) < len(clean["train"]["annotations"])
    assert noisy["val"] == clean["val"]
    assert "note: label noise (data.noise)" in report.summary()


def test_synthetic_validation_can_have_its_own_class_mix(tmp_path):
    cfg = tiny_config(tmp_path, class_weights="[1,0,0]", val_class_weights="[0,0,1]")
    data, _ = prepare(cfg, ("train", "val"))
    assert {a["category_id"] for a in data["train"]["annotations"]} == {1}
    assert {a["category_id"] for a in data["val"]["annotations"]} == {3}
    meta = json.loads((tmp_path / "shapes" / "synthetic.json").read_text())
    assert meta["val_class_weights"] == [0, 0, 1]
