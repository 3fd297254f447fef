"""A fuzz harness over the whole data path, not only the parsers: small datasets in every format
(COCO, VOC, YOLO, CSV) get 1-3 random kinds of damage (truncated or random-byte files, missing
files, dangling and looping links, a decompression-bomb header, a non-UTF-8 file name, duplicated
ids, a wrong type in a field), then go through the scan, the checks and the training dataset
(every item loaded). Invariants, for every generated case:
  1. it succeeds, or raises the project's own error (DataError, ConfigError, FileNotFoundError,
     OSError, ValueError) whose message names a file or folder of the dataset;
  2. no other exception type escapes (no KeyError, TypeError, IndexError, ... from deep inside);
  3. the user's dataset folder is byte-for-byte unchanged afterwards (nothing written, moved or deleted).
``EXAMPLES`` cases per format run in the suite (hypothesis shrinks a failure to its smallest damage)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detector.core.config import ConfigError, load_config
from detector.data.build import build_dataset, prepare_data, require_training_images
from detector.data.problems import DataError
from tests.conftest import voc_xml
from tests.data.test_hostile import png_declaring

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 30))  # per format; FUZZ_EXAMPLES=1000 for a longer hunt
PROJECT_ERRORS = (DataError, ConfigError, FileNotFoundError, OSError, ValueError)
NAMES = ["a.png", "b.png", "c.jpg"]
BOXES = {"a.png": [("cat", (2, 3, 20, 15))], "b.png": [("dog", (5, 5, 25, 18)), ("cat", (0, 0, 10, 10))], "c.jpg": []}


def write_dataset(root: Path, fmt: str) -> tuple[list[str], list[Path]]:
    """Three 32 x 24 images (one without boxes) in ``fmt``: (config overrides, annotation files)."""
    images = root / ("images/train" if fmt == "yolo" else "images")
    images.mkdir(parents=True)
    for i, name in enumerate(NAMES):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(images / name)
    if fmt == "coco":
        cats = {"cat": 1, "dog": 2}
        anns = [{"id": len(NAMES) * 10 + k, "image_id": i + 1, "category_id": cats[c], "bbox": [x0, y0, x1 - x0, y1 - y0],
                 "area": 1.0, "iscrowd": 0} for i, n in enumerate(NAMES) for k, (c, (x0, y0, x1, y1)) in enumerate(BOXES[n])]
        data = {"images": [{"id": i + 1, "file_name": n, "width": 32, "height": 24} for i, n in enumerate(NAMES)],
                "annotations": anns, "categories": [{"id": v, "name": k} for k, v in cats.items()]}
        (root / "ann.json").write_text(json.dumps(data))
        files = [root / "ann.json"]
        keys = [f"data.{s}_{k}={root / v}" for s in ("train", "val") for k, v in (("images", "images"), ("annotations", "ann.json"))]
    elif fmt == "voc":
        (root / "xml").mkdir()
        for n in NAMES:
            objects = [(c, (x0 + 1, y0 + 1, x1, y1), False) for c, (x0, y0, x1, y1) in BOXES[n]]
            (root / "xml" / f"{Path(n).stem}.xml").write_text(voc_xml(n, objects, (32, 24)))
        files = sorted((root / "xml").iterdir())
        keys = [f"data.{s}_{k}={root / v}" for s in ("train", "val") for k, v in (("images", "images"), ("annotations", "xml"))]
        keys.append("data.class_names=[cat,dog]")
    elif fmt == "yolo":
        labels = root / "labels" / "train"
        labels.mkdir(parents=True)
        for n in NAMES:
            rows = [f"{['cat', 'dog'].index(c)} {(x0 + x1) / 64} {(y0 + y1) / 48} {(x1 - x0) / 32} {(y1 - y0) / 24}"
                    for c, (x0, y0, x1, y1) in BOXES[n]]
            (labels / f"{Path(n).stem}.txt").write_text("".join(r + "\n" for r in rows))
        (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog]\n")
        files = [*sorted(labels.iterdir()), root / "data.yaml"]
        keys = [f"data.yolo_yaml={root / 'data.yaml'}"]
    else:
        rows = [f"images/{n},{x0},{y0},{x1},{y1},{c}" for n in NAMES for c, (x0, y0, x1, y1) in BOXES[n]]
        rows += [f"images/{n},,,,," for n in NAMES if not BOXES[n]]
        (root / "train.csv").write_text("\n".join(rows) + "\n")
        files = [root / "train.csv"]
        keys = [f"data.{s}_annotations={root / 'train.csv'}" for s in ("train", "val")] + ["data.class_names=[cat,dog]"]
    return [f"data.dataset={fmt}", *keys], files


def snapshot(root: Path) -> dict[bytes, bytes]:
    """Every entry under ``root`` (bytes names: non-UTF-8 ones too) -> its content hash or link target."""
    out = {}
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                out[path] = b"link:" + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    out[path] = hashlib.sha256(f.read()).digest()
            else:
                out[path] = b"dir"
    return out


DAMAGE = ["truncate", "random_bytes", "delete", "dangling_link", "looping_link", "bomb", "non_utf8_name",
          "duplicate_id", "wrong_type", "empty"]


def damage(root: Path, kind: str, target: Path, fraction: float, noise: bytes) -> None:
    """One kind of damage to ``target`` (an image or an annotation file of the dataset at ``root``)."""
    if kind == "truncate":
        target.write_bytes(target.read_bytes()[: int(len(target.read_bytes()) * fraction)])
    elif kind == "random_bytes":
        target.write_bytes(noise)
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "delete":
        target.unlink()
    elif kind in ("dangling_link", "looping_link"):
        target.unlink()
        target.symlink_to(root / "gone.png" if kind == "dangling_link" else target)
    elif kind == "bomb":
        png_declaring(target, 40000, 40000)
    elif kind == "non_utf8_name":
        os.rename(os.fsencode(target), os.fsencode(target.parent) + b"/\xff\xfe" + os.fsencode(target.name))
    elif kind in ("duplicate_id", "wrong_type") and target.suffix == ".json":
        try:
            data = json.loads(target.read_bytes())
            data["images"][2], data["annotations"][0]["bbox"][0]  # noqa: B018 -- still the structure written
        except (ValueError, KeyError, IndexError, TypeError):
            return  # already damaged past this kind of damage
        if kind == "duplicate_id":
            data["images"][2]["id"] = data["images"][0]["id"]
        else:
            data["annotations"][0]["bbox"][int(fraction * 3)] = "12"
        target.write_text(json.dumps(data))
    elif kind == "wrong_type":  # in a text annotation: a number becomes a word
        text = target.read_text(errors="replace")
        target.write_text(text.replace("2", "two", 1) if "2" in text else text + "x")


@st.composite
def damages(draw) -> list[tuple[str, int, float, bytes]]:
    return draw(st.lists(st.tuples(st.sampled_from(DAMAGE), st.integers(0, 10), st.floats(0.0, 0.95),
                                   st.binary(min_size=0, max_size=64)), min_size=1, max_size=3))


def run_data_path(overrides: list[str]) -> None:
    """What training does with data before step 1, and every item of the training dataset."""
    cfg = load_config(None, ["augment.image_size=64", "data.scan_cache=none", *overrides])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated images warn, as they should
        prepared, report = prepare_data(cfg, strict=False)
        report.raise_for(cfg.data.on_bad_image)
        require_training_images(prepared)
        for split in ("train", "val"):
            dataset = build_dataset(cfg, split, prepared=prepared[split])
            for i in range(len(dataset)):
                image, target = dataset[i]
                assert image.shape[0] == 3 and target["boxes"].shape[-1] == 4


def check_case(fmt: str, steps: list[tuple[str, int, float, bytes]]) -> Exception | None:
    """Damage a fresh dataset by ``steps``, run the data path, check the invariants; the project
    error it raised, if any."""
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "dataset"
        overrides, annotation_files = write_dataset(root, fmt)
        for kind, pick, fraction, noise in steps:
            candidates = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                                and p.name in NAMES + [f.name for f in annotation_files])
            if candidates:
                damage(root, kind, candidates[pick % len(candidates)], fraction, noise)
        before = snapshot(root)
        try:
            run_data_path(overrides)
        except PROJECT_ERRORS as exc:  # invariant 1: the project's own error, naming the file
            error, message = exc, str(exc)
            assert str(root) in message or any(n in message for n in NAMES + ["data.yaml", "ann.json", "train.csv"]), \
                f"{type(exc).__name__} names no file: {message}"
        # invariant 2: anything else propagates and fails the test; invariant 3:
        assert snapshot(root) == before, "the data path changed the user's dataset folder"
    return error


FORMATS = ("coco", "voc", "yolo", "csv")


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=damages())
def test_data_path_under_damage(fmt, steps):
    check_case(fmt, steps)


def test_the_harness_sees_both_outcomes():
    for fmt in FORMATS:
        assert check_case(fmt, []) is None  # undamaged: every item loads
    duplicate = check_case("coco", [("duplicate_id", 0, 0.5, b"")])
    assert isinstance(duplicate, DataError) and "have the same id 1" in str(duplicate)
    every_image_gone = [("delete", 0, 0.0, b"")] * 3
    assert isinstance(check_case("csv", every_image_gone), DataError)
