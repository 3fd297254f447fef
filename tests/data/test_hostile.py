"""Hostile and broken inputs found by trying the project as a user would (issue 20): each gets one
clear line naming the file, and nothing is lost."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train
from detector.cli.main import main as cli
from detector.core.config import load_config
from detector.data.images import check_image, load_rgb, set_pixel_limit
from tests.conftest import TINY_RUN, kinds, prepare, write_coco


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A 60-byte PNG whose header declares ``width`` x ``height`` (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def coco_with_a_bomb(root: Path) -> list[str]:
    ann = write_coco(root, [("ok.png", (64, 48)), ("other.png", (64, 48))],
                     [{"image_id": i, "category_id": 1, "bbox": [4, 4, 20, 20]} for i in (1, 2, 3)],
                     [{"id": 1, "name": "thing"}])
    png_declaring(root / "images" / "bomb.png", 30000, 30000)
    data = json.loads(ann.read_text())
    data["images"].append({"id": 3, "file_name": "bomb.png", "width": 30000, "height": 30000})
    ann.write_text(json.dumps(data))
    return ["data.dataset=coco", f"data.train_images={root / 'images'}", f"data.train_annotations={ann}",
            f"data.val_images={root / 'images'}", f"data.val_annotations={ann}", f"data.scan_cache={root / 'cache'}"]


def test_a_decompression_bomb_is_a_bad_image_not_a_traceback(tmp_path, capsys):
    data = coco_with_a_bomb(tmp_path)
    cfg = load_config(None, ["augment.image_size=64", *data])
    _, report = prepare(cfg)
    assert kinds(report)["unreadable_image"] == 1  # (the two grey images are also duplicates)
    [problem] = [p for p in report.splits[0].problems if p.kind == "unreadable_image"]
    assert problem.file.endswith("bomb.png") and "900000000 pixels" in problem.detail
    assert "data.max_image_pixels" in problem.detail
    # training leaves it out and runs; with data.on_bad_image=error it stops before step 1, naming it
    run = [*data, *TINY_RUN, "solver.max_iters=1", "train.vis_images=0", "train.batch_size=2"]
    assert train.main([*run, f"train.output_dir={tmp_path / 'a'}"]) == 0
    assert train.main([*run, "data.on_bad_image=error", f"train.output_dir={tmp_path / 'b'}"]) == 1
    assert "bomb.png" in capsys.readouterr().err


def test_the_pixel_limit_is_a_config_key_and_not_cached(tmp_path):
    bomb = png_declaring(tmp_path / "bomb.png", 30000, 30000)
    try:
        set_pixel_limit(0)  # no limit: the header passes, the (absent) pixels do not decode
        info = check_image(bomb)
        assert info.status == "unreadable" and not info.over_limit and "pixels" not in info.detail
        set_pixel_limit(64 * 48 - 1)  # a limit below an ordinary image refuses it before decoding
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "small.png")
        assert check_image(tmp_path / "small.png").over_limit
        with pytest.raises(OSError, match=r"small.png' is too large to decode: .*data.max_image_pixels"):
            load_rgb(tmp_path / "small.png")
    finally:
        set_pixel_limit(load_config(None).data.max_image_pixels)
    assert check_image(tmp_path / "small.png").status == "ok"
    with pytest.raises(Exception, match="data.max_image_pixels must be >= 0"):
        load_config(None, ["data.max_image_pixels=-1"])


def test_duplicate_coco_image_ids_are_refused_naming_both_files(tmp_path, capsys):
    """{id 1: 0.jpg, id 2: 1.jpg, id 1: 2.jpg} used to train on 2 images with 0.jpg's box on 2.jpg."""
    ann = write_coco(tmp_path, [(f"{i}.jpg", (64, 48)) for i in range(3)],
                     [{"image_id": i, "category_id": 1, "bbox": [4, 4, 20, 20]} for i in (1, 2)],
                     [{"id": 1, "name": "thing"}])
    data = json.loads(ann.read_text())
    data["images"][2]["id"] = 1
    ann.write_text(json.dumps(data))
    args = ["data.dataset=coco", f"data.train_images={tmp_path / 'images'}", f"data.train_annotations={ann}",
            f"data.val_images={tmp_path / 'images'}", f"data.val_annotations={ann}"]
    expected = "images[0] (file_name '0.jpg') and images[2] (file_name '2.jpg') have the same id 1; ids must be unique"
    assert cli(["scan", *args, "--output", str(tmp_path / "scan")]) == 1
    assert expected in capsys.readouterr().err
    assert train.main([*args, *TINY_RUN, f"train.output_dir={tmp_path / 'run'}"]) == 1
    err = capsys.readouterr().err
    assert expected in err and "annotation" not in err.split("have the same id")[0].split(":")[-1]


def test_dangling_and_looping_links_are_listed_not_dropped(tmp_path):
    root = tmp_path / "yolo"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        Image.fromarray(np.full((48, 64, 3), 90 if split == "train" else 30, np.uint8)).save(root / "images" / split / "a.jpg")
        (root / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    (root / "images" / "train" / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "images" / "train" / "loop.jpg").symlink_to(root / "images" / "train" / "loop.jpg")
    for name in ("dangling", "loop"):
        (root / "labels" / "train" / f"{name}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    cfg = load_config(None, ["augment.image_size=64", "data.dataset=yolo", f"data.train_images={root / 'images' / 'train'}",
                             f"data.val_images={root / 'images' / 'val'}", "data.class_names=[thing]"])
    prepared, report = prepare(cfg)
    problems = {Path(p.file).name: p.kind for p in report.splits[0].problems}
    assert problems == {"dangling.jpg": "missing_image", "loop.jpg": "unreadable_image"}
    assert [im["file_name"] for im in prepared["train"]["images"]] == ["a.jpg"]


def test_a_checkpoint_without_training_state_finetunes_but_does_not_resume(tiny_checkpoint, tmp_path, capsys):
    """model + config only (as people share weights): --init-from works, --resume says why not."""
    cfg, ckpt = tiny_checkpoint
    run = [f"data.root={cfg.data.root}", "data.synthetic.num_train=8", "data.synthetic.num_val=4",
           "data.synthetic.image_size=96", "data.synthetic.size_range=[16,40]", "data.synthetic.objects_per_image=[1,3]",
           "data.synthetic.empty_fraction=0.0", *TINY_RUN, "solver.max_iters=1", "train.vis_images=0",
           f"train.output_dir={tmp_path / 'run'}"]
    (tmp_path / "run").mkdir()
    shutil.copy(ckpt, tmp_path / "run" / "last.pt")
    assert train.main([*run, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: checkpoint '{tmp_path / 'run' / 'last.pt'}' holds weights but no training state (optimizer, "
                   f"scheduler, step), so it cannot be resumed; start a run from its weights with --init-from "
                   f"{tmp_path / 'run' / 'last.pt'}")
    assert train.main([*run, "--init-from", str(ckpt), f"train.output_dir={tmp_path / 'fine'}"]) == 0


@pytest.mark.parametrize("content", [b"hello world\n", bytes(range(256)) * 8, b"\x80\x04\x95" + b"\x00" * 40])
def test_a_file_that_is_no_checkpoint_gets_no_advice_from_torch(tmp_path, capsys, content):
    (tmp_path / "bad.pt").write_bytes(content)
    assert cli(["eval", "--checkpoint", str(tmp_path / "bad.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint '{tmp_path / 'bad.pt'}' cannot be loaded: it is not a")
    assert "weights_only" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_duplicate_groups_are_one_line_each_and_name_the_other_split(tmp_path, capsys):
    """300 copies of one photo are one line per split, not 300 x 299 pairs; train == val (coco128's
    setup) names the split instead of an empty 'same bytes as '."""
    copies = 300
    ann = write_coco(tmp_path, [(f"{i}.png", (32, 24)) for i in range(copies)],
                     [{"image_id": i + 1, "category_id": 1, "bbox": [2, 2, 10, 10]} for i in range(copies)],
                     [{"id": 1, "name": "thing"}])
    cfg = load_config(None, ["augment.image_size=64", "data.dataset=coco", f"data.train_images={tmp_path / 'images'}",
                             f"data.train_annotations={ann}", f"data.val_images={tmp_path / 'images'}",
                             f"data.val_annotations={ann}", f"data.scan_cache={tmp_path / 'cache'}"])
    _, report = prepare(cfg, ("train", "val"))
    assert "scan:   0%| " in capsys.readouterr().err  # a progress bar (of 300) from PROGRESS_FROM images to decode on
    for split in report.splits:
        [group] = [p for p in split.problems if p.kind == "duplicate_file"]
        assert len(group.files) == 2 * copies  # every copy in both splits, in the JSON
        assert group.detail.startswith(f"{copies} files with the same bytes: train:")
        assert group.detail.endswith(f"and {2 * copies - 5} more (data_report.json lists them all)")
    single = write_coco(tmp_path / "one", [("a.png", (32, 24))], [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 9, 9]}],
                        [{"id": 1, "name": "thing"}])
    images = tmp_path / "one" / "images"
    cfg = load_config(None, ["augment.image_size=64", "data.dataset=coco", f"data.train_images={images}",
                             f"data.train_annotations={single}", f"data.val_images={images}", f"data.val_annotations={single}"])
    _, report = prepare(cfg, ("train", "val"))
    details = [p.detail for s in report.splits for p in s.problems]
    assert details == [f"the same file is in train and val: train:{images / 'a.png'}, val:{images / 'a.png'}"] * 2


@pytest.mark.parametrize("value", [0, 9, 65535])  # 65537 needs a LONG tag PIL will not write; the same branch
def test_an_out_of_range_exif_orientation_turns_nothing(tmp_path, value):
    exif = Image.Exif()
    exif[0x0112] = value
    pixels = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png", exif=exif)
    info = check_image(tmp_path / "photo.png")
    assert info.status == "ok" and info.orientation == 1 and (info.width, info.height) == (40, 24)
    assert np.array_equal(load_rgb(tmp_path / "photo.png"), pixels)


@pytest.mark.parametrize("fmt", ["coco", "csv", "yolo"])
def test_scan_and_train_agree_on_an_empty_dataset(tmp_path, capsys, fmt):
    (tmp_path / "images").mkdir()
    if fmt == "coco":
        (tmp_path / "ann.json").write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
        args = ["data.dataset=coco", *(f"data.{s}_images={tmp_path / 'images'}" for s in ("train", "val")),
                *(f"data.{s}_annotations={tmp_path / 'ann.json'}" for s in ("train", "val"))]
    elif fmt == "csv":
        (tmp_path / "train.csv").write_text("")
        args = ["data.dataset=csv", *(f"data.{s}_annotations={tmp_path / 'train.csv'}" for s in ("train", "val")),
                "data.class_names=[a]"]
    else:
        (tmp_path / "labels").mkdir()
        args = ["data.dataset=yolo", *(f"data.{s}_images={tmp_path / 'images'}" for s in ("train", "val")),
                "data.class_names=[a]"]
    scan_code = cli(["scan", *args, "--output", str(tmp_path / "scan"), "--grid", "0"])
    scan_err = capsys.readouterr().err
    train_code = train.main([*args, *TINY_RUN, f"train.output_dir={tmp_path / 'run'}"])
    train_err = capsys.readouterr().err
    assert scan_code == train_code == 1, (scan_err, train_err)
    assert scan_err.startswith("error:") and train_err.startswith("error:") and "Traceback" not in scan_err + train_err
