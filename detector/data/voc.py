"""Pascal VOC XML datasets, converted in memory to the COCO format the rest of the project reads.

A VOC *set* is ``"FOLDER:SPLIT"`` with FOLDER relative to ``data.root``:

- VOCdevkit layout: ``VOC2007:trainval`` reads ``VOC2007/ImageSets/Main/trainval.txt``,
  ``VOC2007/Annotations/<id>.xml`` and ``VOC2007/JPEGImages/<id>.jpg``;
- flat layout: ``.:train`` reads ``train.txt`` (or ``ImageSets/Main/train.txt``), ``annotations/``
  and ``images/``; a FOLDER alone (``.``) takes every XML file of the folder.

The image file is the truth: width and height come from the decoded image header, never from the
XML ``<size>``, which is often missing, zero or wrong. ``difficult`` objects become COCO ``iscrowd``
boxes: ignored in training (their anchors are neither positive nor negative) and in evaluation.
VOC coordinates are 1-based inclusive; they are converted to 0-based pixel edges (x0 - 1, y0 - 1, x1, y1)
as detectron2 does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, ElementTree  # no entity expansion, no external entities

from detector.data.images import image_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class VocObject:
    name: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in 0-based pixel edges
    difficult: bool


@dataclass(frozen=True)
class VocSet:
    folder: Path
    split: str

    @classmethod
    def parse(cls, root: Path, spec: str) -> "VocSet":
        folder, _, split = spec.partition(":")
        path = root / folder
        if not path.is_dir():
            raise FileNotFoundError(f"VOC set '{spec}': folder '{path}' does not exist (a set is "
                                    "FOLDER:SPLIT under data.root, e.g. 'VOC2007:trainval', '.:train', or FOLDER)")
        return cls(path, split)

    def _first_dir(self, *names: str) -> Path:
        for name in names:
            if (self.folder / name).is_dir():
                return self.folder / name
        raise FileNotFoundError(f"VOC folder '{self.folder}' has none of {names}")

    @property
    def annotation_dir(self) -> Path:
        return self._first_dir("Annotations", "annotations")

    @property
    def image_dir(self) -> Path:
        return self._first_dir("JPEGImages", "images", "Images")

    def ids(self) -> list[str]:
        """Image ids of the split, in file order; every XML file when there is no SPLIT."""
        if not self.split:
            return sorted(p.stem for p in self.annotation_dir.glob("*.xml"))
        for candidate in (self.folder / "ImageSets" / "Main" / f"{self.split}.txt",
                          self.folder / f"{self.split}.txt", self.folder / self.split):
            if candidate.is_file():
                lines = candidate.read_text().split("\n")
                return [line.split()[0] for line in lines if line.strip()]
        raise FileNotFoundError(f"VOC split '{self.split}' not found: looked for "
                                f"ImageSets/Main/{self.split}.txt and {self.split}.txt in '{self.folder}'")

    def image_path(self, image_id: str, filename: str | None) -> Path:
        """The image of ``image_id``: the XML's <filename> if that file exists, else <id>.<ext>."""
        if filename and (self.image_dir / filename).is_file():
            return self.image_dir / filename
        for suffix in IMAGE_SUFFIXES:
            for s in (suffix, suffix.upper()):
                if (self.image_dir / f"{image_id}{s}").is_file():
                    return self.image_dir / f"{image_id}{s}"
        raise FileNotFoundError(f"no image for VOC id '{image_id}' in '{self.image_dir}'"
                                + (f" (the XML names '{filename}')" if filename else ""))


def _number(obj: Element, field: str, xml: Path) -> float:
    node = obj.find(f"bndbox/{field}")
    if node is None or node.text is None:
        raise ValueError(f"{xml}: an <object> lacks <bndbox>/<{field}>")
    try:
        return float(node.text)
    except ValueError:
        raise ValueError(f"{xml}: <bndbox>/<{field}> is '{node.text}', not a number") from None


def parse_voc_xml(xml: Path) -> tuple[str | None, list[VocObject]]:
    """(the <filename> it names, its objects) from one VOC annotation file."""
    try:
        tree = ElementTree.parse(xml)
    except FileNotFoundError:
        raise FileNotFoundError(f"VOC annotation file '{xml}' does not exist") from None
    except ParseError as exc:
        raise ValueError(f"{xml}: malformed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise ValueError(f"{xml}: refused, the XML declares entities ({exc!r})") from None
    root = tree.getroot()
    filename = (root.findtext("filename") or "").strip() or None
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise ValueError(f"{xml}: an <object> has no <name>")
        x0, y0, x1, y1 = (_number(obj, f, xml) for f in ("xmin", "ymin", "xmax", "ymax"))
        difficult = (obj.findtext("difficult") or "0").strip() in ("1", "true")
        objects.append(VocObject(name, (x0 - 1, y0 - 1, x1, y1), difficult))
    return filename, objects


def discover_classes(root: Path, sets: list[str]) -> list[str]:
    """Sorted class names found in the XML files of ``sets``."""
    names: set[str] = set()
    for spec in sets:
        voc = VocSet.parse(root, spec)
        for image_id in voc.ids():
            names.update(o.name for o in parse_voc_xml(voc.annotation_dir / f"{image_id}.xml")[1])
    return sorted(names)


def voc_to_coco(root: str | Path, sets: list[str], class_names: list[str]) -> dict[str, Any]:
    """A COCO-format dict (images, annotations, categories with ids 1..K) for the VOC ``sets``.

    ``file_name`` is relative to ``root``. Objects of classes not in ``class_names`` are skipped
    and counted in a warning.
    """
    root = Path(root)
    category = {name: i + 1 for i, name in enumerate(class_names)}
    images, annotations, skipped = [], [], {}
    for spec in sets:
        voc = VocSet.parse(root, spec)
        for image_id in voc.ids():
            filename, objects = parse_voc_xml(voc.annotation_dir / f"{image_id}.xml")
            path = voc.image_path(image_id, filename)
            w, h = image_size(path)
            images.append({"id": len(images) + 1, "file_name": str(path.relative_to(root)), "width": w,
                           "height": h, "voc_id": f"{spec}/{image_id}"})
            for obj in objects:
                if obj.name not in category:
                    skipped[obj.name] = skipped.get(obj.name, 0) + 1
                    continue
                x0, y0, x1, y1 = obj.box
                annotations.append({"id": len(annotations) + 1, "image_id": images[-1]["id"],
                                    "category_id": category[obj.name], "bbox": [x0, y0, x1 - x0, y1 - y0],
                                    "area": max(x1 - x0, 0) * max(y1 - y0, 0), "iscrowd": int(obj.difficult)})
    if skipped:
        warnings.warn(f"VOC sets {sets} under '{root}': skipped objects of classes not in "
                      f"data.class_names: {skipped}", stacklevel=2)
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for n, i in category.items()]}
