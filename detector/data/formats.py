"""The dataset formats, one entry each in one table: ``FORMATS`` maps a ``data.dataset`` name to its
``DataFormat``: how a split of it is read (its reader, in its own module), which ``data.*`` keys name
a split and which only it reads, what a config must set, where its class names come from, and
whether its layout names a validation split itself. Adding a format is one reader file and one entry
here; nothing else in the package branches on a format's name (tests/data/test_formats.py checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from detector.core.config import DataConfig
from detector.data.coco import coco_draft
from detector.data.csv_format import csv_classes, csv_draft, read_class_file
from detector.data.draft import Draft
from detector.data.synthetic import ensure_synthetic
from detector.data.voc import read_voc_folder, read_voc_sets, voc_classes, voc_draft
from detector.data.yolo import classes_txt, list_images, read_yolo_yaml, split_sources, yolo_draft

Names = Callable[[], list[str]]  # a split's class names, read when called


@dataclass(frozen=True)
class DataFormat:
    read: Callable[[DataConfig, str], tuple[Draft | Callable[[list[str]], Draft], Names | None]]
    # (the split's draft, or a function of the class names that makes it; the names the split itself holds)
    configured: Callable[[DataConfig, str], bool]  # does the config name this split
    split_keys: Callable[[DataConfig, str], str]  # what to set for a split, for the message when it is missing
    requires: Callable[[DataConfig], str]  # what the config lacks to be read at all ("" when nothing)
    own_keys: tuple[str, ...] = ()  # data.* keys only this format reads (another's run warns they are unused)
    own_names: Callable[[DataConfig], list[str] | None] | None = None  # a configured class file's names (None: no file)
    names_from_data: bool = False  # no class list of its own: data.class_names, else found in the train split
    discovered_note: bool = False  # print the names found in the data (there is no file that lists them)
    layout_names_val: bool = False  # its layout always names a val split; data.val_fraction replaces it
    no_names: str = "set data.class_names"  # what to do when neither the config nor the data names a class
    prepare: Callable[[DataConfig], object] | None = None  # before reading (the synthetic set is generated)


def split_paths(cfg: DataConfig, split: str) -> tuple[Path, Path]:
    """(image folder, annotation file) of a COCO-layout ``split``: as set, else <root>/<split> and
    <root>/annotations/<split>.json."""
    images = getattr(cfg, f"{split}_images") or str(Path(cfg.root) / split)
    annotations = getattr(cfg, f"{split}_annotations") or str(Path(cfg.root) / "annotations" / f"{split}.json")
    return Path(images), Path(annotations)


def _coco_default(cfg: DataConfig, split: str) -> bool:
    """The COCO layout names a split unset in the config when its default annotation file is there."""
    return split_paths(cfg, split)[1].is_file()


def _read_coco(cfg: DataConfig, split: str) -> tuple[Draft, None]:
    return coco_draft(*split_paths(cfg, split)), None


def _read_voc(cfg: DataConfig, split: str) -> tuple[Callable[[list[str]], Draft], Names]:
    annotations = getattr(cfg, f"{split}_annotations")
    if annotations:
        images = getattr(cfg, f"{split}_images")
        files, unannotated = read_voc_folder(Path(annotations), Path(images) if images else None)
        source, root = f"VOC XML folder '{annotations}'", Path(images or annotations)
    else:
        sets = getattr(cfg, f"{split}_sets")
        files, unannotated = read_voc_sets(Path(cfg.root), sets), []
        source, root = f"VOC {sets} under '{cfg.root}'", Path(cfg.root)
    return (lambda names: voc_draft(files, names, source, root, unannotated)), (lambda: voc_classes(files))


def _read_csv(cfg: DataConfig, split: str) -> tuple[Callable[[list[str]], Draft], Names]:
    path = Path(getattr(cfg, f"{split}_annotations"))
    return (lambda names: csv_draft(path, names, f"CSV file '{path}'")), (lambda: csv_classes(path))


def _csv_class_file(cfg: DataConfig) -> list[str] | None:
    """The names of a keras-retinanet classes.csv (``data.class_file``), None when none is set."""
    return read_class_file(Path(cfg.class_file)) if cfg.class_file else None


def _yolo_images(cfg: DataConfig, split: str) -> tuple[list[Path], list[str], str, Path]:
    """(images, class names from the data, source, root) of a YOLO split."""
    if cfg.yolo_yaml:
        data = read_yolo_yaml(Path(cfg.yolo_yaml))
        images = list_images(split_sources(data, split, Path(cfg.yolo_yaml)))
        return images, data["names"], f"YOLO '{cfg.yolo_yaml}' {split}", data["root"]
    folder = Path(getattr(cfg, f"{split}_images"))
    if not folder.is_dir():
        raise FileNotFoundError(f"data.{split}_images: YOLO image folder '{folder}' does not exist")
    images = list_images([folder])
    return images, classes_txt(images), f"YOLO images '{folder}'", folder


def _read_yolo(cfg: DataConfig, split: str) -> tuple[Callable[[list[str]], Draft], Names]:
    images, own, source, root = _yolo_images(cfg, split)
    if own and cfg.class_names and cfg.class_names != own and cfg.yolo_yaml:
        raise ValueError(f"data.class_names {cfg.class_names} differ from the names in '{cfg.yolo_yaml}' {own}; "
                         "leave data.class_names empty to use the YAML's")
    return (lambda names: yolo_draft(images, names, source, root)), (lambda: own)


def _any_set(*keys: str) -> Callable[[DataConfig, str], bool]:
    """A split is configured when one of ``keys`` ("{split}" filled in) is set."""
    return lambda cfg, split: any(getattr(cfg, key.format(split=split)) for key in keys)


def _require(message: str, *keys: str) -> Callable[[DataConfig], str]:
    return lambda cfg: "" if any(getattr(cfg, key) for key in keys) else message


FORMATS: dict[str, DataFormat] = {
    "synthetic": DataFormat(
        _read_coco, lambda cfg, split: True, lambda cfg, split: "", lambda cfg: "", own_keys=("synthetic",),
        layout_names_val=True,
        prepare=lambda cfg: ensure_synthetic(cfg.synthetic, cfg.root)),
    "coco": DataFormat(
        _read_coco, lambda cfg, split: bool(getattr(cfg, f"{split}_annotations")) or _coco_default(cfg, split),
        lambda cfg, split: f"data.{split}_images and data.{split}_annotations (no {split_paths(cfg, split)[1]})",
        lambda cfg: ""),
    "voc": DataFormat(
        _read_voc, _any_set("{split}_sets", "{split}_annotations"),
        lambda cfg, split: f"data.{split}_annotations or data.{split}_sets",
        _require("data.dataset=voc needs data.train_annotations (a folder of XML files) or data.train_sets "
                 "(e.g. ['VOC2007:trainval'])", "train_sets", "val_sets", "train_annotations", "val_annotations"),
        own_keys=("train_sets", "val_sets"), names_from_data=True, discovered_note=True),
    "yolo": DataFormat(
        _read_yolo, lambda cfg, split: bool(cfg.yolo_yaml or getattr(cfg, f"{split}_images")),
        lambda cfg, split: f"data.{split}_images",
        _require("data.dataset=yolo needs data.yolo_yaml (a data.yaml) or data.train_images (an image folder)",
                 "yolo_yaml", "train_images", "val_images"),
        own_keys=("yolo_yaml",), names_from_data=True, layout_names_val=True,
        no_names="set data.class_names, or use a data.yaml with 'names', or put LabelImg's classes.txt in the "
                 "label folder"),
    "csv": DataFormat(
        _read_csv, _any_set("{split}_annotations"), lambda cfg, split: f"data.{split}_annotations",
        _require("data.dataset=csv needs data.train_annotations (a CSV file: path,x1,y1,x2,y2,class_name)",
                 "train_annotations", "val_annotations"),
        own_keys=("class_file",), own_names=_csv_class_file,
        names_from_data=True, discovered_note=True),
}


def data_format(cfg: DataConfig) -> DataFormat:
    return FORMATS[cfg.dataset]


def check_format(cfg: DataConfig) -> None:
    """``ValueError`` when the config lacks what its format needs to be read at all."""
    problem = data_format(cfg).requires(cfg)
    if problem:
        raise ValueError(problem)


def configured(cfg: DataConfig, split: str) -> bool:
    """Whether the config names ``split`` (its format's keys, or its layout)."""
    return data_format(cfg).configured(cfg, split)


def format_key_rules() -> list[tuple[str, str, tuple[str, ...]]]:
    """(data.* key, "data.dataset", the formats that read it) for the keys only some formats read,
    as ``core.config_checks.unused_settings`` takes them."""
    readers: dict[str, list[str]] = {}
    for name, fmt in FORMATS.items():
        for key in fmt.own_keys:
            readers.setdefault(f"data.{key}", []).append(name)
    return [(key, "data.dataset", tuple(names)) for key, names in readers.items()]


def read_draft(cfg: DataConfig, split: str) -> Draft:
    """The annotations of ``split`` as configured, not yet checked against the images."""
    fmt = data_format(cfg)
    if not fmt.configured(cfg, split):
        raise ValueError(f"no {split} split: set {fmt.split_keys(cfg, split)}, or data.val_fraction=0.2 to hold out "
                         "training images")
    made, found = fmt.read(cfg, split)
    if isinstance(made, Draft):
        return made
    return made(class_names_of(cfg, split, found))


def class_names_of(cfg: DataConfig, split: str = "", found: Names | None = None) -> list[str]:
    """The class list of a format whose files hold none of their own (``names_from_data``):
    ``data.class_names``, else the format's own class file, else the names the training split holds
    (``found`` when the caller read ``split`` already, so it is not read twice), printed when they
    were discovered. Stored back into ``cfg`` so the saved config and checkpoint name them."""
    fmt = data_format(cfg)
    if cfg.class_names or not fmt.names_from_data:
        return cfg.class_names
    source = "train" if fmt.configured(cfg, "train") else "val"
    listed = fmt.own_names(cfg) if fmt.own_names is not None else None
    if listed is not None:  # a class file is configured: its names, only
        names = listed
    else:
        names = found() if found is not None and split == source else (fmt.read(cfg, source)[1] or list)()
    if not names:
        raise ValueError(f"no classes found in the {source} split of this {cfg.dataset} dataset: {fmt.no_names}")
    if fmt.discovered_note and listed is None:
        print(f"{cfg.dataset.upper()} classes discovered in the {source} split: {names}")
    cfg.class_names = names
    return names
