"""Property-based: random malformed COCO JSON and VOC XML either load or fail with one clear error
(ValueError / FileNotFoundError naming the file), never a KeyError or TypeError from deep inside."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detector.core.config import load_config
from detector.data.coco import CocoDetection
from detector.data.problems import DataError
from tests.conftest import prepare

CLEAR = (ValueError, FileNotFoundError)
junk = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=4), st.lists(st.integers(-3, 40), max_size=5))
number = st.one_of(st.integers(-20, 80), st.floats(-20, 80), junk)


def maybe(value_strategy):
    """A field that is sometimes absent (None here means: leave the key out)."""
    return st.one_of(st.none(), value_strategy)


def valid_coco() -> dict:
    return {"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20},
                       {"id": 2, "file_name": "a.png", "width": 30, "height": 20}],
            "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8], "iscrowd": 0},
                            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 30, 20], "iscrowd": 0}]}


FIELDS = [("images", None), ("categories", None), ("annotations", None), ("images", "id"),
          ("images", "file_name"), ("images", "width"), ("images", "height"), ("categories", "id"),
          ("categories", "name"), ("annotations", "id"), ("annotations", "image_id"),
          ("annotations", "category_id"), ("annotations", "bbox"), ("annotations", "iscrowd")]
DELETE = object()


@st.composite
def coco_file(draw) -> dict:
    """A valid file with 1-3 fields replaced by junk (or deleted): mostly-right files are where
    loaders crash deep inside."""
    data = valid_coco()
    for _ in range(draw(st.integers(1, 3))):
        section, key = draw(st.sampled_from(FIELDS))
        value = draw(st.one_of(junk, st.just(DELETE), st.lists(number, max_size=5)))
        if key is None:
            target, field = data, section
        else:
            entries = data[section] if isinstance(data.get(section), list) else []
            entries = [e for e in entries if isinstance(e, dict)]
            if not entries:
                continue
            target, field = draw(st.sampled_from(entries)), key
        if value is DELETE:
            target.pop(field, None)
        else:
            target[field] = value
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=coco_file())
def test_random_coco_json_loads_or_fails_clearly(data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "a.png")
        (root / "ann.json").write_text(json.dumps(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = CocoDetection(root, root / "ann.json")
                for i in range(len(dataset)):
                    dataset[i]
        except CLEAR as exc:
            assert "ann.json" in str(exc) or "image file" in str(exc), str(exc)
        except OSError as exc:  # an image that cannot be read
            assert "image file" in str(exc)


voc_field = st.one_of(st.integers(-10, 60).map(str), st.sampled_from(["", "abc", "1e9", "nan", "3.5"]))
voc_object = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["dog", "", "cat "]), "difficult": st.sampled_from(["0", "1", "x", ""]),
    "xmin": voc_field, "ymin": voc_field, "xmax": voc_field, "ymax": voc_field})


def render_voc(objects: list[dict], size: tuple[str, str] | None, truncate: int | None) -> str:
    parts = ["<annotation><filename>a.jpg</filename>"]
    if size:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height></size>")
    for obj in objects:
        inner = "".join(f"<{k}>{obj[k]}</{k}>" for k in ("name", "difficult") if k in obj)
        box = "".join(f"<{k}>{obj[k]}</{k}>" for k in ("xmin", "ymin", "xmax", "ymax") if k in obj)
        parts.append(f"<object>{inner}<bndbox>{box}</bndbox></object>")
    text = "".join(parts) + "</annotation>"
    return text[:truncate] if truncate is not None else text


@settings(max_examples=150, deadline=None)
@given(objects=st.lists(voc_object, max_size=3), size=maybe(st.tuples(voc_field, voc_field)),
       truncate=maybe(st.integers(0, 120)))
def test_random_voc_xml_loads_or_fails_clearly(objects, size, truncate):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "annotations").mkdir()
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "images" / "a.jpg")
        (root / "annotations" / "a.xml").write_text(render_voc(objects, size, truncate))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                coco, report = prepare(load_config(None, ["data.dataset=voc", f"data.root={root}",
                                                          "data.train_sets=[.]", "data.class_names=[dog]"]))
            assert coco["train"]["images"][0]["width"] == 30  # the image, not the XML, gives the size
            for ann in coco["train"]["annotations"]:
                assert len(ann["bbox"]) == 4
            for problem in report.splits[0].problems:  # every problem names the file
                assert "a.xml" in problem.file or "a.jpg" in problem.file, problem
        except DataError as exc:  # errors stop before step 1, each line naming the file
            assert all("a.xml" in line for line in str(exc).splitlines()[1:]), str(exc)
