"""Shared fixtures: tiny datasets written to tmp_path, tiny model configs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from detector.core.checkpoint import save_checkpoint
from detector.core.config import Config, ModelConfig, load_config
from detector.data.build import prepare_data
from detector.data.problems import DataReport
from detector.data.synthetic import ensure_synthetic
from detector.model.retinanet import build_model

# the tiny model and run every training test uses, on 96 px images (any dataset)
TINY_RUN = ["augment.image_size=96", "model.backbone.name=resnet18", "model.fpn_channels=32",
            "model.head.num_convs=1", "model.anchors.sizes=[16,32,64,128,256]", "train.batch_size=4",
            "train.num_workers=0", "train.vis_images=1", "solver.warmup_iters=5", "solver.max_iters=4",
            "train.checkpoint_period=2", "train.amp=none", "inference.amp=none"]  # the same numbers on every CPU


def tiny_config(tmp_path: Path, **synthetic) -> Config:
    """A small, fast config (``TINY_RUN``) on a tiny synthetic dataset under ``tmp_path``."""
    overrides = [
        f"data.root={tmp_path / 'shapes'}", "data.synthetic.num_train=8", "data.synthetic.num_val=4",
        "data.synthetic.image_size=96", "data.synthetic.size_range=[16,40]",
        "data.synthetic.objects_per_image=[1,3]", "data.synthetic.empty_fraction=0.0",
        *TINY_RUN, f"train.output_dir={tmp_path / 'run'}",
    ]
    overrides += [f"data.synthetic.{k}={v}" for k, v in synthetic.items()]
    return load_config(None, overrides)


def write_coco(root: Path, images: list[tuple[str, tuple[int, int]]], annotations: list[dict],
               categories: list[dict]) -> Path:
    """Write solid-grey images of the given (name, (w, h)) and a COCO JSON next to them."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (name, (w, h)) in enumerate(images, start=1):
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(root / "images" / name)
        entries.append({"id": i, "file_name": name, "width": w, "height": h})
    anns = [{"id": i, "iscrowd": 0, "area": 1.0, **a} for i, a in enumerate(annotations, 1)]
    path = root / "ann.json"
    path.write_text(json.dumps({"images": entries, "annotations": anns, "categories": categories}))
    return path


@pytest.fixture(autouse=True, scope="session")
def _scan_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The data scan's cache goes to a temporary folder, never the user's ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))


def prepare(cfg: Config, splits: tuple[str, ...] = ("train",)) -> tuple[dict[str, Any], DataReport]:
    """(split -> checked COCO dict, report) of ``cfg``'s data, as training prepares it."""
    prepared, report = prepare_data(cfg, splits)
    return {s: p.coco for s, p in prepared.items()}, report


def kinds(report: DataReport, split: int = 0) -> dict[str, int]:
    """Problem kind -> count in one split of ``report``."""
    return dict(report.splits[split].counts())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path]:
    """(config, checkpoint) of an untrained tiny model on a tiny synthetic set, made once and shared
    read-only: for tests of what runs a checkpoint (detect, evaluate), not of training."""
    root = tmp_path_factory.mktemp("tiny_checkpoint")
    cfg = tiny_config(root)
    ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(cfg.data.synthetic.classes))
    path = root / "model.pt"
    save_checkpoint({"model": model.state_dict(), "config": cfg.to_dict(), "cat_ids": [1, 2, 3],
                     "class_names": list(cfg.data.synthetic.classes)}, path)
    return cfg, path


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    return tiny_config(tmp_path)


def voc_xml(filename: str, objects: list[tuple[str, tuple[float, float, float, float], bool]],
            size: tuple[int, int] | None = None) -> str:
    """A VOC annotation; ``size`` None leaves <size> out. Boxes are VOC 1-based (xmin, ymin, xmax, ymax)."""
    parts = [f"<annotation><folder>x</folder><filename>{filename}</filename>"]
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, (x0, y0, x1, y1), difficult in objects:
        parts.append(f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>"
                     f"<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>"


def write_voc(folder: Path, items: dict[str, tuple[tuple[int, int], list]], split: str | None = None,
              devkit: bool = True, xml_size: str = "right") -> Path:
    """Write a VOC folder: ``items`` id -> ((w, h), objects). devkit=True uses JPEGImages/Annotations/
    ImageSets/Main; False uses images/annotations/<split>.txt. ``xml_size`` right|missing|zero|wrong."""
    img_dir = folder / ("JPEGImages" if devkit else "images")
    ann_dir = folder / ("Annotations" if devkit else "annotations")
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    for image_id, ((w, h), objects) in items.items():
        Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(img_dir / f"{image_id}.jpg")
        size = {"right": (w, h), "missing": None, "zero": (0, 0), "wrong": (w * 3, h // 2)}[xml_size]
        (ann_dir / f"{image_id}.xml").write_text(voc_xml(f"{image_id}.jpg", objects, size))
    if split:
        split_file = folder / "ImageSets" / "Main" / f"{split}.txt" if devkit else folder / f"{split}.txt"
        split_file.parent.mkdir(parents=True, exist_ok=True)
        split_file.write_text("\n".join(items) + "\n")
    return folder


def small_model_cfg() -> ModelConfig:
    cfg = ModelConfig()
    cfg.backbone.name = "resnet18"
    cfg.fpn_channels = 32
    cfg.head.num_convs = 1
    return cfg


def image(path: Path, w: int = 40, h: int = 30, fmt: str | None = None, seed: int = 0) -> Path:
    """A noisy RGB image (noise makes JPEGs long enough to truncate), saved as ``fmt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None))
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
