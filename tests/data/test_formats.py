"""Users' data as they have it: VOC folders, YOLO (Ultralytics, Roboflow), CSV (keras-retinanet),
held-out validation splits; each asserting what loads, what is reported and what is left out."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.core.config import DataConfig, load_config
from detector.data.build import configured_splits
from detector.data.formats import FORMATS
from detector.data.problems import DataError
from tests.conftest import image, kinds, prepare, truncate, voc_xml


def cfg_of(*overrides: str):
    return load_config(None, ["augment.image_size=64", *overrides])


# ---------------------------------------------------------------------------------------- VOC folders


def labelimg_folder(root: Path) -> Path:
    """LabelImg's default: XML beside each image; names in every case and shape people have."""
    image(root / "a.JPG", seed=1)
    (root / "a.xml").write_text(voc_xml("a.JPG", [("cat", (3, 3, 20, 20), False)]))
    image(root / "b.jpeg", seed=2)  # <filename> without its extension
    (root / "b.xml").write_text(voc_xml("b", [("dog", (5, 5, 30, 25), False)]))
    image(root / "c.png", seed=3)  # <filename> names another file: the XML's stem finds it
    (root / "c.xml").write_text(voc_xml("C_old_name.png", [("dog", (1, 1, 10, 10), False)]))
    image(root / "unlabelled.jpg", seed=4)
    return root


def test_voc_xml_beside_images_any_case_and_filename_without_extension(tmp_path):
    root = labelimg_folder(tmp_path / "my photos")
    coco, report = prepare(cfg_of("data.dataset=voc", f"data.train_annotations={root}"))
    names = sorted(Path(im["file_name"]).name for im in coco["train"]["images"])
    assert names == ["a.JPG", "b.jpeg", "c.png"]
    assert len(coco["train"]["annotations"]) == 3
    assert kinds(report) == {"unannotated_image": 1}
    assert report.splits[0].problems[0].file.endswith("unlabelled.jpg")
    assert report.splits[0].class_names == ["cat", "dog"]


def test_voc_separate_folders_with_any_names(tmp_path):
    image(tmp_path / "pics" / "x1.jpg")
    image(tmp_path / "pics" / "x2.jpg", seed=5)
    (tmp_path / "xml_labels").mkdir()
    (tmp_path / "xml_labels" / "x1.xml").write_text(voc_xml("x1.jpg", [("boat", (2, 2, 12, 12), False)]))
    (tmp_path / "xml_labels" / "x2.XML").write_text(voc_xml("x2.jpg", []))
    cfg = cfg_of("data.dataset=voc", f"data.train_annotations={tmp_path / 'xml_labels'}",
                 f"data.train_images={tmp_path / 'pics'}", f"data.val_annotations={tmp_path / 'xml_labels'}",
                 f"data.val_images={tmp_path / 'pics'}")
    coco, report = prepare(cfg, ("train", "val"))
    assert len(coco["val"]["images"]) == 2 and report.splits[0].images_without_boxes == 1
    assert cfg.data.class_names == ["boat"]


def test_bad_images_truncated_loads_undecodable_left_out_misnamed_reported(tmp_path):
    root = tmp_path / "v"
    for name in ("ok", "trunc", "junk", "webp"):
        (root / f"{name}.xml").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.xml").write_text(voc_xml(f"{name}.jpg", [("cat", (3, 3, 20, 20), False)]))
    image(root / "ok.jpg", 200, 150, seed=1)
    truncate(image(root / "trunc.jpg", 200, 150, seed=2))
    (root / "junk.jpg").write_bytes(b"\x00not an image at all")
    image(root / "webp.jpg", fmt="WEBP")
    cfg = cfg_of("data.dataset=voc", f"data.train_annotations={root}")
    coco, report = prepare(cfg)
    assert kinds(report) == {"unreadable_image": 1, "truncated_image": 1, "misnamed_format": 1}
    assert sorted(Path(im["file_name"]).name for im in coco["train"]["images"]) == ["ok.jpg", "trunc.jpg", "webp.jpg"]
    problems = {p.kind: p for p in report.splits[0].problems}
    assert problems["unreadable_image"].file.endswith("junk.jpg")
    assert "WEBP content named '.jpg'" in problems["misnamed_format"].detail
    assert "bad_image unreadable_image x1: cannot be decoded at all: left out" in report.summary()
    with pytest.raises(DataError, match=r"junk.jpg.*\n.*on_bad_image=skip"):
        prepare(cfg_of("data.dataset=voc", f"data.train_annotations={root}", "data.on_bad_image=error"))


# ---------------------------------------------------------------------------------------- YOLO


def write_labels(path: Path, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + ("\n" if rows else ""))


def ultralytics_dataset(root: Path) -> Path:
    """images/{train,val} + labels/{train,val}, names as a dict, a relative ``path``."""
    image(root / "images" / "train" / "a.jpg", 100, 50)
    write_labels(root / "labels" / "train" / "a.txt", ["0 0.5 0.5 0.2 0.4", "1 0.25 0.25 0.1 0.1"])
    image(root / "images" / "train" / "empty.jpg", seed=1)
    write_labels(root / "labels" / "train" / "empty.txt", [])  # empty label file: a negative
    image(root / "images" / "train" / "nolabel.png", seed=2)  # no label file: a negative
    write_labels(root / "labels" / "train" / "classes.txt", ["person", "car"])  # LabelImg's, not labels
    image(root / "images" / "val" / "v.jpg", seed=3)
    write_labels(root / "labels" / "val" / "v.txt", ["1 0.5 0.5 0.5 0.5"])
    (root / "data.yaml").write_text(f"path: ../{root.name}\ntrain: images/train\nval: images/val\n"
                                    "names:\n  0: person\n  1: car\n")
    return root / "data.yaml"


def test_yolo_ultralytics_yaml_negatives_and_stray_classes_txt(tmp_path):
    yaml_file = ultralytics_dataset(tmp_path / "ds")
    coco, report = prepare(cfg_of("data.dataset=yolo", f"data.yolo_yaml={yaml_file}"), ("train", "val"))
    train = coco["train"]
    assert [c["name"] for c in train["categories"]] == ["person", "car"]
    assert len(train["images"]) == 3 and report.splits[0].images_without_boxes == 2
    boxes = {a["category_id"]: a["bbox"] for a in train["annotations"]}
    np.testing.assert_allclose(boxes[1], [40, 15, 20, 20])  # 0.5 0.5 0.2 0.4 of 100 x 50
    np.testing.assert_allclose(boxes[2], [20, 10, 10, 5])
    assert kinds(report) == {"stray_text_file": 1} and report.splits[0].problems[0].file.endswith("classes.txt")
    assert len(coco["val"]["images"]) == 1 and report.splits[1].boxes_per_class == {"person": 0, "car": 1}


def test_yolo_roboflow_layout_dotdot_paths_and_names_list(tmp_path):
    root = tmp_path / "rf"
    image(root / "train" / "images" / "a_jpg.rf.123.jpg")
    write_labels(root / "train" / "labels" / "a_jpg.rf.123.txt", ["0 0.5 0.5 0.5 0.5"])
    image(root / "valid" / "images" / "b.jpg", seed=1)
    write_labels(root / "valid" / "labels" / "b.txt", ["0 0.2 0.2 0.6 0.2 0.6 0.5 0.2 0.5"])  # a polygon
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['raccoon']\n")
    coco, report = prepare(cfg_of("data.dataset=yolo", f"data.yolo_yaml={root / 'data.yaml'}"), ("train", "val"))
    assert len(coco["train"]["annotations"]) == 1 and not report.splits[0].problems
    np.testing.assert_allclose(coco["val"]["annotations"][0]["bbox"], [8, 6, 16, 9])  # polygon's bounds, 40 x 30


def test_yolo_image_folder_with_class_names_or_classes_txt(tmp_path):
    image(tmp_path / "data" / "images" / "a.jpg")
    write_labels(tmp_path / "data" / "labels" / "a.txt", ["1 0.5 0.5 0.5 0.5"])
    write_labels(tmp_path / "data" / "labels" / "classes.txt", ["cat", "dog"])
    cfg = cfg_of("data.dataset=yolo", f"data.train_images={tmp_path / 'data' / 'images'}")
    coco, report = prepare(cfg)
    assert cfg.data.class_names == ["cat", "dog"] and coco["train"]["annotations"][0]["category_id"] == 2
    coco, _ = prepare(cfg_of("data.dataset=yolo", f"data.train_images={tmp_path / 'data' / 'images'}",
                             "data.class_names=[a,b,c]"))
    assert [c["name"] for c in coco["train"]["categories"]] == ["a", "b", "c"]


@pytest.mark.parametrize("row, kind, message", [
    ("5 0.5 0.5 0.1 0.1", "label_out_of_range", "class 5, but there are 2 classes"),
    ("0 nan 0.5 0.1 0.1", "bad_annotation", "not finite"),
    ("0 0.5 0.5 -0.1 0.1", "bad_annotation", "negative width or height"),
    ("0 50 40 20 10", "bad_annotation", "not normalised"),
    ("0 0.5 0.5", "bad_annotation", "3 values"),
    ("x 0.5 0.5 0.1 0.1", "bad_annotation", "not a number"),
])
def test_yolo_bad_rows_stop_before_training_naming_file_and_row(tmp_path, row, kind, message):
    image(tmp_path / "images" / "a.jpg")
    write_labels(tmp_path / "labels" / "a.txt", ["0 0.5 0.5 0.2 0.2", row])
    cfg = cfg_of("data.dataset=yolo", f"data.train_images={tmp_path / 'images'}", "data.class_names=[a,b]")
    with pytest.raises(DataError, match=rf"a.txt row 2: .*{message}.*\[{kind}\]"):
        prepare(cfg)


# ---------------------------------------------------------------------------------------- CSV


def keras_csv(root: Path) -> Path:
    image(root / "imgs" / "a.jpg", 100, 80)
    image(root / "imgs" / "b.jpg", seed=1)
    (root / "train.csv").write_text("imgs/a.jpg,10,20,50,60,cat\nimgs/a.jpg,0,0,5,5,dog\nimgs/b.jpg,,,,,\n")
    return root / "train.csv"


def test_csv_keras_retinanet_empty_row_and_discovered_classes(tmp_path, capsys):
    path = keras_csv(tmp_path)
    cfg = cfg_of("data.dataset=csv", f"data.train_annotations={path}")
    coco, report = prepare(cfg)
    assert "CSV classes discovered" in capsys.readouterr().out and cfg.data.class_names == ["cat", "dog"]
    assert len(coco["train"]["images"]) == 2 and report.splits[0].images_without_boxes == 1
    assert coco["train"]["annotations"][0]["bbox"] == [10.0, 20.0, 40.0, 40.0]
    (tmp_path / "classes.csv").write_text("dog,0\ncat,1\n")
    coco, _ = prepare(cfg_of("data.dataset=csv", f"data.train_annotations={path}",
                             f"data.class_file={tmp_path / 'classes.csv'}"))
    assert [c["name"] for c in coco["train"]["categories"]] == ["dog", "cat"]


@pytest.mark.parametrize("row, message", [
    ("imgs/a.jpg,10,20,50,60,bird", r"row 2: class 'bird' is not one of \['cat', 'dog'\].*unknown_class"),
    ("imgs/a.jpg,10,nan,50,60,cat", r"row 2: box .* is not finite.*bad_annotation"),
    ("imgs/a.jpg,50,20,10,60,cat", r"row 2: box .* negative width.*bad_annotation"),
    ("imgs/a.jpg,10,x,50,60,cat", r"row 2: box .* not a number.*bad_annotation"),
    ("imgs/a.jpg,10,20", r"row 2: 3 columns, expected 6.*bad_annotation"),
])
def test_csv_bad_values_name_file_and_row(tmp_path, row, message):
    image(tmp_path / "imgs" / "a.jpg", 100, 80)
    (tmp_path / "t.csv").write_text(f"imgs/a.jpg,1,1,9,9,cat\n{row}\n")
    with pytest.raises(DataError, match=message):
        prepare(cfg_of("data.dataset=csv", f"data.train_annotations={tmp_path / 't.csv'}", "data.class_names=[cat,dog]"))


def test_csv_with_a_header_row_roboflow_tensorflow_export(tmp_path):
    image(tmp_path / "a.jpg", 100, 80)
    (tmp_path / "_annotations.csv").write_text(
        "filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,200,80,cat,10,20,50,60\n")
    coco, report = prepare(cfg_of("data.dataset=csv", f"data.train_annotations={tmp_path / '_annotations.csv'}"))
    assert coco["train"]["annotations"][0]["bbox"] == [10.0, 20.0, 40.0, 40.0]
    assert kinds(report) == {"size_mismatch": 1}  # the header says 200 wide, the file is 100


# ---------------------------------------------------------------------------------------- splits, cache


def test_val_fraction_is_seeded_stratified_and_recorded(tmp_path):
    rows = []
    for i in range(20):  # 18 "common" images, 2 with the rare class
        image(tmp_path / f"{i}.jpg", seed=i)
        rows.append(f"{i}.jpg,1,1,9,9,{'rare' if i < 2 else 'common'}")
    (tmp_path / "all.csv").write_text("\n".join(rows) + "\n")
    base = ["data.dataset=csv", f"data.train_annotations={tmp_path / 'all.csv'}", "data.val_fraction=0.2"]
    record = tmp_path / "run" / "split.json"
    cfg = cfg_of(*base, f"data.split_file={record}")
    coco, report = prepare(cfg, ("train", "val"))
    val = {im["file_name"] for im in coco["val"]["images"]}
    assert len(val) == 4 and len(coco["train"]["images"]) == 16
    assert report.splits[1].boxes_per_class["rare"] == 1  # stratified: one of the two rare images
    assert set(json.loads(record.read_text())["val"]) == val
    again, _ = prepare(cfg_of(*base, "data.split_seed=7", f"data.split_file={record}"), ("val",))
    assert {im["file_name"] for im in again["val"]["images"]} == val  # the recorded split wins
    same, _ = prepare(cfg_of(*base), ("val",))  # no record: the same seed draws the same split
    other, _ = prepare(cfg_of(*base, "data.split_seed=1"), ("val",))
    assert {im["file_name"] for im in same["val"]["images"]} == val
    assert {im["file_name"] for im in other["val"]["images"]} != val


def test_scan_cache_reads_no_pixels_twice_and_notices_changes(tmp_path):
    path = keras_csv(tmp_path)
    cfg = cfg_of("data.dataset=csv", f"data.train_annotations={path}", f"data.scan_cache={tmp_path / 'cache'}")
    assert prepare(cfg)[1].images_checked == 2
    assert prepare(cfg)[1].images_checked == 0
    truncate(tmp_path / "imgs" / "a.jpg")
    _, report = prepare(cfg)
    assert report.images_checked == 1 and kinds(report) == {"truncated_image": 1}


def test_duplicates_across_splits_are_reported(tmp_path):
    path = keras_csv(tmp_path)
    (tmp_path / "imgs" / "copy.jpg").write_bytes((tmp_path / "imgs" / "a.jpg").read_bytes())
    (tmp_path / "val.csv").write_text("imgs/copy.jpg,10,20,50,60,cat\n")
    _, report = prepare(cfg_of("data.dataset=csv", f"data.train_annotations={path}",
                               f"data.val_annotations={tmp_path / 'val.csv'}"), ("train", "val"))
    assert kinds(report, 0) == {"duplicate_file": 1} and kinds(report, 1) == {"duplicate_file": 1}
    assert "val:" in report.splits[0].problems[0].detail


def test_coco_unlisted_files_nan_and_size_mismatch(tmp_path):
    image(tmp_path / "images" / "a.png", 40, 30)
    image(tmp_path / "images" / "stray.png", seed=1)
    data = {"images": [{"id": 7, "file_name": "a.png", "width": 80, "height": 30}],
            "categories": [{"id": 3, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5], "area": 99.0}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    over = ["data.dataset=coco", f"data.train_images={tmp_path / 'images'}", f"data.train_annotations={tmp_path / 'ann.json'}"]
    coco, report = prepare(cfg_of(*over))
    assert kinds(report) == {"unannotated_image": 1, "size_mismatch": 1}
    assert coco["train"]["annotations"][0]["area"] == 99.0  # the file's own fields are kept for evaluation
    assert coco["train"]["images"][0]["id"] == 7 and coco["train"]["images"][0]["width"] == 40
    data["annotations"][0]["bbox"] = [1, float("nan"), 5, 5]
    (tmp_path / "ann.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"ann.json: annotation id 1 \(image 7\): box .* not finite"):
        prepare(cfg_of(*over))


# ---------------------------------------------------------------------------------------- real-world quirks


def test_exif_rotated_photo_is_used_upright_and_reported(tmp_path):
    from detector.data.images import load_rgb
    pixels = np.zeros((30, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = load_rgb(tmp_path / "phone.jpg")
    assert upright.shape == (40, 30, 3) and upright[:10].mean() > 200 and upright[-10:].mean() < 50
    (tmp_path / "a.csv").write_text("phone.jpg,1,1,20,30,cat\n")
    coco, report = prepare(cfg_of("data.dataset=csv", f"data.train_annotations={tmp_path / 'a.csv'}"))
    assert (coco["train"]["images"][0]["width"], coco["train"]["images"][0]["height"]) == (30, 40)
    assert kinds(report) == {"exif_rotated": 1}


def test_yolo_quirks_labels_beside_images_foreign_path_and_no_labels_at_all(tmp_path):
    root = tmp_path / "colab"
    image(root / "images" / "train" / "a.jpg")
    write_labels(root / "images" / "train" / "a.txt", ["0 0.5 0.5 0.5 0.5"])  # beside, not in labels/
    (root / "data.yaml").write_text("path: /content/datasets/colab\ntrain: images/train\nval: images/train\n"
                                    "names: [thing]\n")
    coco, report = prepare(cfg_of("data.dataset=yolo", f"data.yolo_yaml={root / 'data.yaml'}"))
    assert len(coco["train"]["annotations"]) == 1 and not report.splits[0].problems
    (root / "images" / "train" / "a.txt").unlink()
    with pytest.raises(DataError, match="none of the 1 images has a label file"):
        prepare(cfg_of("data.dataset=yolo", f"data.yolo_yaml={root / 'data.yaml'}"))


def test_foreign_paths_in_coco_and_csv_files_still_find_the_images(tmp_path):
    image(tmp_path / "images" / "a.jpg")
    data = {"images": [{"id": 1, "file_name": "/data/upload/1/a.jpg"}], "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    (tmp_path / "ls.json").write_text(json.dumps(data))
    coco, report = prepare(cfg_of("data.dataset=coco", f"data.train_images={tmp_path / 'images'}",
                                  f"data.train_annotations={tmp_path / 'ls.json'}"))
    assert coco["train"]["images"][0]["file_name"] == "a.jpg" and not report.splits[0].problems
    (tmp_path / "w.csv").write_text("images\\a.jpg,1,1,5,5,x\n")
    coco, report = prepare(cfg_of("data.dataset=csv", f"data.train_annotations={tmp_path / 'w.csv'}"))
    assert len(coco["train"]["images"]) == 1 and not report.splits[0].problems


def test_coco_with_only_a_training_file_scans_and_asks_for_val(tmp_path):
    image(tmp_path / "images" / "a.png")
    data = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    (tmp_path / "train.json").write_text(json.dumps(data))
    over = ["data.dataset=coco", f"data.root={tmp_path}", f"data.train_images={tmp_path / 'images'}",
            f"data.train_annotations={tmp_path / 'train.json'}"]
    assert configured_splits(cfg_of(*over).data) == ("train",)
    with pytest.raises(ValueError, match="no val split: set data.val_images and data.val_annotations .no .*val.json.*val_fraction"):
        prepare(cfg_of(*over), ("train", "val"))
    coco, _ = prepare(cfg_of(*over, "data.val_fraction=0.5"), ("train", "val"))
    assert len(coco["train"]["images"]) + len(coco["val"]["images"]) == 1


def test_nothing_outside_the_formats_table_branches_on_a_format_name():
    """``data.dataset`` is read in comparisons, ``in`` tests and lookups only by data/formats.py."""
    root = Path(__file__).resolve().parents[2] / "detector"
    branching = []
    for file in sorted(root.rglob("*.py")):
        if file == root / "data" / "formats.py":
            continue
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            inspected = (node.left, *node.comparators) if isinstance(node, ast.Compare) else (
                (node.slice,) if isinstance(node, ast.Subscript) else ())
            if any(isinstance(n, ast.Attribute) and n.attr == "dataset" for part in inspected for n in ast.walk(part)):
                branching.append(f"{file.relative_to(root)}:{node.lineno}")
    assert branching == []
    assert set(FORMATS) == set(typing.get_args(typing.get_type_hints(DataConfig)["dataset"]))
