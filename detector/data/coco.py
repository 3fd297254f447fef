"""COCO-format detection datasets (also what the synthetic benchmark writes)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from detector.core.boxes import xywh_to_xyxy
from detector.core.io import read_json
from detector.data.draft import Draft, judge_box
from detector.data.files import base_name, image_files, resolved
from detector.data.images import load_rgb
from detector.data.mosaic import mosaic
from detector.data.problems import DataError

__all__ = ["CocoDetection", "coco_draft", "coco_from_dict", "load_coco", "load_rgb"]


def read_coco_json(ann_file: str | Path) -> dict[str, Any]:
    """A COCO-format JSON file, checked (``check_coco``)."""
    return check_coco(read_json(ann_file, "annotation file"), f"annotation file '{ann_file}'")


def load_coco(ann_file: str | Path) -> COCO:
    """A pycocotools COCO object for a COCO-format JSON file, checked first (``check_coco``)."""
    return coco_from_dict(read_coco_json(ann_file), f"annotation file '{ann_file}'")


def coco_draft(image_dir: Path, ann_file: Path) -> Draft:
    """A ``Draft`` of a COCO JSON file: ids, boxes and extra fields kept as they are (COCO
    evaluation scores the file's own ground truth); image files the JSON does not list are
    reported as unannotated."""
    data = read_coco_json(ann_file)
    draft = Draft(f"annotation file '{ann_file}'", image_dir, data["categories"],
                  extra={k: v for k, v in data.items() if k not in ("images", "annotations", "categories")})
    for image in data["images"]:
        if not isinstance(image.get("file_name"), str) or not image["file_name"]:
            draft.report.add("bad_annotation", ann_file, f"image id {image['id']} has file_name "
                                                         f"{image.get('file_name')!r:.60}; every image needs one")
        elif (image_dir / image["file_name"]).exists() or not (image_dir / base_name(image["file_name"])).exists():
            draft.images.append(image)
        else:  # exporters (Label Studio, CVAT) write paths of their own machine: the name alone is found
            draft.images.append({**image, "file_name": base_name(image["file_name"])})
    for ann in data["annotations"]:
        where = f"{ann_file}: annotation id {ann['id']} (image {ann['image_id']})"
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            draft.report.add("bad_annotation", where, f"bbox {bbox!r:.60}; expected [x, y, width, height] numbers")
        else:
            draft.annotations.append({**ann, "where": where})
    listed = {resolved(image_dir / im["file_name"]) for im in draft.images}
    if image_dir.is_dir():
        for path in image_files(image_dir):
            if resolved(path) not in listed:
                draft.report.add("unannotated_image", path, f"not in {ann_file.name}")
    return draft


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unique(entries: list[dict[str, Any]], section: str, shown: str, source: str) -> None:
    """Ids within ``section`` are unique: pycocotools indexes by id, so a repeated id silently drops
    one entry and moves its boxes onto the other. The error names both entries by ``shown``."""
    seen: dict[int, int] = {}
    for i, entry in enumerate(entries):
        j = seen.setdefault(entry["id"], i)
        if j != i:
            raise DataError(f"{source}: {section}[{j}] ({shown} {entries[j].get(shown)!r:.80}) and {section}[{i}] "
                            f"({shown} {entry.get(shown)!r:.80}) have the same id {entry['id']}; ids must be unique")


def check_coco(data: Any, source: str) -> dict[str, Any]:
    """The structure pycocotools and this project rely on, each problem one clear line naming the
    file, the entry and the value: images (int ``id``), categories (int ``id``, str ``name``),
    annotations (int ``id``, numbered when absent; ``image_id`` of a listed image; ``category_id``
    of a listed category). Boxes are checked when the dataset reads them (CocoDetection)."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} is not in COCO format: the top level must be an object, got {type(data).__name__}")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{source} is not in COCO format: '{key}' must be a list, got {data.get(key)!r:.60}")
    annotations = data.setdefault("annotations", [])
    if not isinstance(annotations, list):
        raise ValueError(f"{source} is not in COCO format: 'annotations' must be a list, got {annotations!r:.60}")
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not _is_int(image.get("id")):
            raise ValueError(f"{source}: images[{i}] must be an object with an integer 'id', got {image!r:.80}")
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise ValueError(f"{source}: categories[{i}] needs an integer 'id' and a string 'name', got {cat!r:.80}")
    _unique(data["images"], "images", "file_name", source)
    _unique(data["categories"], "categories", "name", source)
    image_ids = {image["id"] for image in data["images"]}
    cat_ids = sorted(cat["id"] for cat in data["categories"])
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise ValueError(f"{source}: annotations[{i}] must be an object, got {ann!r:.80}")
        ann.setdefault("id", i + 1)  # pycocotools indexes annotations by id
        if not _is_int(ann["id"]):
            raise ValueError(f"{source}: annotations[{i}] has id {ann['id']!r:.40}; ids must be integers")
        if not _is_int(ann.get("image_id")) or ann["image_id"] not in image_ids:
            raise ValueError(f"{source}: annotation id {ann['id']} has image_id {ann.get('image_id')!r:.40}, "
                             "which is not in 'images'")
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in cat_ids:
            raise ValueError(f"{source}: annotation id {ann['id']} (image {ann['image_id']}) has category_id "
                             f"{ann.get('category_id')!r:.40}, not one of the categories {cat_ids}")
    return data


def coco_from_dict(dataset: dict[str, Any], source: str = "COCO data") -> COCO:
    """A pycocotools COCO object for a COCO-format dict (a file's, or converted VOC), checked first."""
    coco = COCO()
    coco.dataset = check_coco(dataset, source)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def export_coco(coco: dict[str, Any], root: Path, out: Path) -> Path:
    """Write ``coco`` (a prepared split) to ``out`` as COCO JSON with ``file_name`` relative to the
    deepest folder holding all its images; returns that folder (the ``images`` path to use)."""
    paths = [resolved(root / im["file_name"]) for im in coco["images"]]
    base = Path(os.path.commonpath([p.parent for p in paths])) if paths else root.resolve()
    images = [{**im, "file_name": str(p.relative_to(base))} for im, p in zip(coco["images"], paths)]
    old = coco.get("info", {})
    info = {**old, "images_root": str(base)} if isinstance(old, dict) else old
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**coco, "info": info, "images": images}))
    return base


class CocoDetection(Dataset):
    """Items are ``(image (3, H, W) float, target)`` following the project's data contract:
    target ``boxes`` (M, 4) xyxy pixels, ``labels`` (M,) int64 in 0..K-1, ``crowd`` (M,) bool,
    ``image_id`` int, ``orig_size`` (h, w) and ``scale`` (resize factor).

    COCO category ids need not be contiguous: ``cat_ids[label]`` maps a label back to its id.
    """

    def __init__(self, image_dir: str | Path, ann: str | Path | COCO, transform: Callable | None = None,
                 filter_empty: bool = False, source: str | None = None, on_bad_image: str = "skip",
                 scanned: bool = False, mosaic_prob: float = 0.0, mosaic_size: int = 0) -> None:
        """``scanned``: the data went through ``prepare_data``, whose report already lists the
        degenerate and outside boxes; only the images left out by ``filter_empty`` are said here.
        ``mosaic_prob``: the share of seeded training items built as a ``mosaic`` of ``mosaic_size``
        pixels (the letterbox size) before ``transform``."""
        self.image_dir = Path(image_dir)
        self.on_bad_image = on_bad_image  # an image that fails to load mid-run: "skip" to the next, or "error"
        self.coco = ann if isinstance(ann, COCO) else load_coco(ann)
        # names the data in messages: "annotation file 'x.json'", "VOC XML folder 'y'", ...
        self.source = source or ("COCO data" if isinstance(ann, COCO) else f"annotation file '{ann}'")
        self.cat_ids: list[int] = sorted(self.coco.getCatIds())
        if not self.cat_ids:
            raise ValueError(f"{self.source} defines no categories")
        self.class_names = [self.coco.cats[c]["name"] for c in self.cat_ids]
        self.label_of = {c: i for i, c in enumerate(self.cat_ids)}
        self.transform = transform
        self.mosaic_prob, self.mosaic_size = mosaic_prob, mosaic_size
        # the run's seed: a training item, addressed (epoch, index), is then augmented from (seed, epoch,
        # index) only, not from workers, resume point or process count; None = unseeded
        self.augment_seed: int | None = None
        counts = {"dropped": 0, "clipped": 0}
        self._targets = {i: self._annotations(i, counts) for i in sorted(self.coco.getImgIds())}
        self.image_ids: list[int] = [i for i, t in self._targets.items() if not filter_empty or len(t[0])]
        if scanned:
            counts = {"dropped": 0, "clipped": 0}
        self._report(counts, len(self._targets) - len(self.image_ids))

    def __len__(self) -> int:
        return len(self.image_ids)

    def _annotations(self, image_id: int, counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (M, 4) xyxy clipped to the image, labels (M,), crowd flags (M,) of one image."""
        info = self.coco.imgs[image_id]
        if not isinstance(info.get("file_name"), str) or not info["file_name"]:
            raise ValueError(f"{self.source}: image id {image_id} has file_name {info.get('file_name')!r}; "
                             "every image needs one")
        w, h = (v if _is_number(v) and v > 0 else np.inf for v in (info.get("width"), info.get("height")))
        boxes, labels, crowd = [], [], []  # JSON sizes that are missing or nonsense clip nothing
        for ann in self.coco.imgToAnns.get(image_id, []):
            where = f"{self.source}: annotation id {ann.get('id')} (image {image_id})"
            bbox = ann.get("bbox")
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
                raise ValueError(f"{where} has bbox {bbox!r}; expected [x, y, width, height] numbers")
            box, _ = judge_box([float(v) for v in bbox], w, h)  # the one judgement (data/draft.py)
            if box is None:
                counts["dropped"] += 1
                continue
            counts["clipped"] += box != xywh_to_xyxy(bbox)
            boxes.append(box)
            labels.append(self.label_of[ann["category_id"]])
            crowd.append(ann.get("iscrowd", 0) in (1, True))
        return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64),
                np.asarray(crowd, dtype=bool))

    def _report(self, counts: dict[str, int], filtered: int) -> None:
        """Say once per dataset what was changed, never silently."""
        notes = []
        if counts["dropped"]:
            notes.append(f"dropped {counts['dropped']} degenerate boxes (width or height <= 0 inside the image)")
        if counts["clipped"]:
            notes.append(f"clipped {counts['clipped']} boxes reaching outside their image")
        if filtered:
            notes.append(f"left out {filtered} images without annotations (data.filter_empty)")
        if notes:
            warnings.warn(f"{self.source}: " + "; ".join(notes), stacklevel=2)

    def annotations(self, image_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (boxes (M, 4) xyxy in original pixels, labels (M,), crowd (M,)) of one image."""
        boxes, labels, crowd = self._targets[image_id]
        return boxes.copy(), labels.copy(), crowd.copy()

    def class_counts(self) -> list[int]:
        """Boxes per class (contiguous label order, crowd boxes left out) over the dataset's images."""
        counts = np.zeros(len(self.cat_ids), dtype=np.int64)
        for image_id in self.image_ids:
            _, labels, crowd = self._targets[image_id]
            counts += np.bincount(labels[~crowd], minlength=len(self.cat_ids))
        return counts.tolist()

    def image_path(self, image_id: int) -> Path:
        return self.image_dir / self.coco.imgs[image_id]["file_name"]

    def _load(self, index: int) -> tuple[int, np.ndarray]:
        """(image id, pixels) of ``index``; under ``on_bad_image=skip`` a file that cannot be read
        (it passed the scan, so it changed since) is named in a warning and the next image stands in."""
        for step in range(len(self.image_ids)):
            image_id = self.image_ids[(index + step) % len(self.image_ids)]
            try:
                return image_id, load_rgb(self.image_path(image_id))
            except OSError as exc:  # FileNotFoundError included
                if self.on_bad_image != "skip":
                    raise
                error = exc
                warnings.warn(f"{exc}; using the next image instead (data.on_bad_image=skip)", stacklevel=2)
        raise OSError(f"{error}, nor can any other image of {self.source}")

    def _item(self, index: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image id, pixels (H, W, 3), boxes (M, 4), labels, crowd) of ``index``, the boxes cut to the
        decoded image (it, not the JSON, is the truth)."""
        image_id, image = self._load(index)
        boxes, labels, crowd = self.annotations(image_id)
        h, w = image.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return image_id, image, boxes[keep], labels[keep], crowd[keep]

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Any, dict[str, Any]]:
        """Item ``index``, or ``(epoch, index)`` (the training order, ``data.build.TrainingOrder``)."""
        epoch, index = item if isinstance(item, tuple) else (None, item)
        image_id, image, boxes, labels, crowd = self._item(index)
        h, w = image.shape[:2]
        scale = 1.0
        if self.transform is not None and self.augment_seed is not None and epoch is not None:
            seed = int(np.random.SeedSequence([self.augment_seed, epoch, index]).generate_state(1)[0])
            rng = np.random.default_rng(seed)
            if self.mosaic_prob > 0 and rng.random() < self.mosaic_prob:  # three more images, chosen by the seed
                others = [self._item(int(j))[1:] for j in rng.integers(len(self), size=3)]
                image, boxes, labels, crowd = mosaic([(image, boxes, labels, crowd), *others], self.mosaic_size, rng)
            image, boxes, labels, crowd, scale = self.transform(image, boxes, labels, crowd, seed=seed)
        elif self.transform is not None:
            image, boxes, labels, crowd, scale = self.transform(image, boxes, labels, crowd)
        return image, {"boxes": boxes, "labels": labels, "crowd": crowd, "image_id": image_id,
                       "orig_size": (h, w), "scale": scale}
