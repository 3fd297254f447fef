"""Pascal VOC: devkit and flat layouts, difficult objects, the image file as the truth, clear errors."""

import warnings

import numpy as np
import pytest

from detector.core.config import load_config
from detector.data.build import build_dataset
from detector.data.problems import DataError
from detector.data.voc import parse_voc_xml
from tests.conftest import kinds, prepare, write_voc

ITEMS_07 = {"000001": ((60, 40), [("dog", (11, 6, 30, 25), False), ("person", (1, 1, 60, 40), True)]),
            "000002": ((50, 50), [("cat", (5, 5, 20, 20), False)])}
ITEMS_12 = {"2012_000001": ((40, 30), [("dog", (2, 2, 10, 10), False)])}


def voc_config(root, train_sets, val_sets, *extra):
    return load_config(None, ["data.dataset=voc", f"data.root={root}", f"data.train_sets={train_sets}",
                              f"data.val_sets={val_sets}", "augment.image_size=64", *extra])


def test_devkit_07_plus_12_with_discovered_classes(tmp_path, capsys):
    root = tmp_path / "VOCdevkit"
    write_voc(root / "VOC2007", ITEMS_07, split="trainval")
    write_voc(root / "VOC2012", ITEMS_12, split="trainval")
    cfg = voc_config(root, "[VOC2007:trainval,VOC2012:trainval]", "[VOC2007:trainval]")
    train = build_dataset(cfg, "train")
    assert "discovered" in capsys.readouterr().out
    assert cfg.data.class_names == ["cat", "dog", "person"] == train.class_names
    assert len(train) == 3
    # difficult "person" is kept as a crowd box (ignored by matching and by COCO evaluation)
    _, target = build_dataset(cfg, "train", train_transforms=False).__getitem__(0)
    assert target["labels"].tolist() == [1, 2] and target["crowd"].tolist() == [False, True]
    # 1-based inclusive VOC -> 0-based edges, then letterboxed: 60 x 40 -> 64 x 43 pixels
    np.testing.assert_allclose(target["boxes"][0].numpy(), np.array([10, 5, 30, 25]) * np.array([64 / 60, 43 / 40] * 2),
                               atol=1e-4)


def test_flat_layout_split_file_and_all_files(tmp_path):
    write_voc(tmp_path / "flat", {**ITEMS_07, **ITEMS_12}, split="train", devkit=False)
    (tmp_path / "flat" / "train.txt").write_text("000001\n2012_000001\n")
    coco = prepare(voc_config(tmp_path / "flat", "[.:train]", "[]"))[0]["train"]
    assert [im["file_name"] for im in coco["images"]] == ["images/000001.jpg", "images/2012_000001.jpg"]
    everything = prepare(voc_config(tmp_path / "flat", "[.]", "[]"))[0]["train"]
    assert len(everything["images"]) == 3 and len(everything["annotations"]) == 4


@pytest.mark.parametrize("xml_size", ["missing", "zero", "wrong"])
def test_image_file_not_xml_size_is_the_truth(tmp_path, xml_size):
    items = {"a": ((60, 40), [("dog", (41, 21, 90, 39), False)])}  # xmax past the real width
    write_voc(tmp_path / "v", items, devkit=False, xml_size=xml_size)
    cfg = voc_config(tmp_path / "v", "[.]", "[.]", "augment.hflip_prob=0.0", "augment.image_size=60")
    coco, report = prepare(cfg)
    assert (coco["train"]["images"][0]["width"], coco["train"]["images"][0]["height"]) == (60, 40)
    assert kinds(report) == {"outside_box": 1}  # said once, by the scan; the dataset clips it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and does not say it again
        ds = build_dataset(cfg, "train")
    _, target = ds[0]
    np.testing.assert_allclose(target["boxes"].numpy(), [[40, 20, 60, 39]])


def test_unknown_classes_are_counted_not_silent(tmp_path):
    write_voc(tmp_path / "v", ITEMS_07, devkit=False)
    coco, report = prepare(voc_config(tmp_path / "v", "[.]", "[]", "data.class_names=[cat,dog]"))
    assert len(coco["train"]["annotations"]) == 2
    assert kinds(report) == {"skipped_class": 1} and "'person'" in report.splits[0].problems[0].detail
    cfg = voc_config(tmp_path / "v", "[.]", "[]")
    prepare(cfg)
    assert cfg.data.class_names == ["cat", "dog", "person"]


def test_malformed_xml_and_fields_name_the_file(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object><name>dog</name>")
    with pytest.raises(ValueError, match="bad.xml: malformed XML"):
        parse_voc_xml(bad)
    bad.write_text("<annotation><object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                   "<xmax>abc</xmax><ymax>5</ymax></bndbox></object></annotation>")
    with pytest.raises(ValueError, match="xmax> is 'abc'"):
        parse_voc_xml(bad)
    bad.write_text("<annotation><object><name>dog</name><bndbox><xmin>1</xmin></bndbox></object></annotation>")
    with pytest.raises(ValueError, match="lacks <bndbox>/<ymin>"):
        parse_voc_xml(bad)


def test_entity_expansion_is_refused(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">]><annotation>&x;</annotation>')
    with pytest.raises(ValueError, match="bomb.xml: refused, the XML declares entities"):
        parse_voc_xml(bomb)


def test_missing_image_and_split_are_clear_errors(tmp_path):
    write_voc(tmp_path / "v", ITEMS_07, devkit=False)
    (tmp_path / "v" / "images" / "000002.jpg").unlink()
    coco, report = prepare(voc_config(tmp_path / "v", "[.]", "[]"))  # on_bad_image=skip: left out, listed
    assert len(coco["train"]["images"]) == 1
    assert kinds(report) == {"missing_image": 1} and report.splits[0].problems[0].file.endswith("000002.jpg")
    with pytest.raises(DataError, match="000002.jpg.*missing_image"):
        prepare(voc_config(tmp_path / "v", "[.]", "[]", "data.on_bad_image=error"))
    with pytest.raises(FileNotFoundError, match="VOC split 'val' not found"):
        prepare(voc_config(tmp_path / "v", "[.:val]", "[]", "data.class_names=[dog]"))
    with pytest.raises(FileNotFoundError, match="'VOC2007:trainval'.*does not exist .a set is FOLDER:SPLIT"):
        prepare(voc_config(tmp_path / "v", "[VOC2007:trainval]", "[]", "data.class_names=[dog]"))
