"""``detector.scan`` and ``detector.anchors``: the calls behind ``focaldet scan`` and ``anchors``,
returning what those print (``detector.export``: tests/inference/test_export.py)."""

import json

import detector
from detector.core.config import save_yaml
from tests.conftest import tiny_config

SHAPES = ["data.synthetic.num_train=8", "data.synthetic.num_val=4", "data.synthetic.image_size=96",
          "data.synthetic.size_range=[16,40]", "augment.image_size=96", "recipe=none"]


def test_scan_reports_draws_exports_and_says_what_would_stop_training(tmp_path):
    root = tmp_path / "shapes"
    checked = detector.scan(None, [f"data.root={root}", *SHAPES], output=tmp_path / "scan", grid=4, tile=64,
                            to_coco=tmp_path / "coco")
    assert checked.stop == "" and set(checked.grids) == set(checked.coco) == {"train", "val"}
    assert all(p.is_file() for p in [*checked.grids.values(), *checked.coco.values()])
    assert json.loads((tmp_path / "coco" / "train.json").read_text())["images"][0]["file_name"]
    assert "train: 8 images" in checked.report.summary() and (checked.output / "data_report.txt").is_file()
    empty = detector.scan(None, [f"data.root={tmp_path / 'empty'}", *SHAPES, "data.filter_empty=true",
                                 "data.synthetic.objects_per_image=[0,0]"],
                          output=tmp_path / "scan2", grid=0)
    assert "no usable images with boxes" in empty.stop and not empty.grids  # focaldet scan exits 1 on it


def test_anchors_measures_searches_and_draws(tmp_path):
    cover = detector.anchors(None, [f"data.root={tmp_path / 'shapes'}", *SHAPES,
                                    "model.anchors.sizes=[64,128,256,512,1024]"], draw=2, output=tmp_path / "cov")
    assert cover.configured.num_boxes > 0 and cover.better
    assert cover.suggested.covered > cover.configured.covered
    assert cover.override.startswith("model.anchors.sizes=[") and cover.recipe == ""
    assert [p.parent for p in cover.drawn] == [tmp_path / "cov"] * 2 and all(p.is_file() for p in cover.drawn)


def test_a_config_file_works_as_in_the_cli(tmp_path):
    cfg = tiny_config(tmp_path)
    save_yaml(cfg, tmp_path / "tiny.yaml")
    checked = detector.scan(tmp_path / "tiny.yaml", output=tmp_path / "scan", grid=0)
    assert checked.stop == "" and not checked.grids
