"""Pascal VOC XML datasets, read into a ``Draft`` (COCO-shaped) like every other format.

Two ways to name the data:

- *sets* under ``data.root``, ``"FOLDER:SPLIT"``: the VOCdevkit layout (``VOC2007:trainval`` reads
  ``VOC2007/ImageSets/Main/trainval.txt``, ``VOC2007/Annotations/<id>.xml``, ``VOC2007/JPEGImages``)
  or a flat one (``.:train`` reads ``train.txt`` or ``ImageSets/Main/train.txt``, ``annotations/``
  and ``images/``); a FOLDER alone (``.``) takes every XML file of the folder;
- *folders*: ``data.train_annotations=<folder of XML files>`` (searched recursively) and optionally
  ``data.train_images=<image folder>``; without it, images are found beside the XML files (as
  LabelImg saves them). Folder names are whatever the user has.

The image of an XML is its ``<filename>`` if that file exists, else the XML's own stem, else the
``<filename>`` stem, each with any image extension in any letter case (``.JPG``, ``.jpeg``).
The image file is the truth: width and height come from the decoded image, never from the XML
``<size>``, which is often missing, zero or wrong. ``difficult`` objects become COCO ``iscrowd``
boxes: ignored in training (their anchors are neither positive nor negative) and in evaluation.
VOC coordinates are 1-based inclusive; they become 0-based pixel edges (x0 - 1, y0 - 1, x1, y1)
as in detectron2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, ElementTree  # no entity expansion, no external entities

from detector.core.boxes import xyxy_to_xywh
from detector.data.draft import Draft
from detector.data.files import FolderIndex, base_name, image_files, resolved

__all__ = ["VocFile", "VocObject", "VocSet", "parse_voc_xml", "read_voc_folder",
           "read_voc_sets", "voc_draft", "voc_classes"]


@dataclass(frozen=True)
class VocObject:
    name: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in 0-based pixel edges
    difficult: bool


@dataclass
class VocFile:
    """One XML file: where its image is (or would be) and its objects; ``error`` if unreadable."""

    xml: Path
    image: Path
    objects: list[VocObject]
    error: str = ""


@dataclass(frozen=True)
class VocSet:
    folder: Path
    split: str

    @classmethod
    def parse(cls, root: Path, spec: str) -> VocSet:
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
            return sorted(p.stem for p in self.annotation_dir.iterdir() if p.suffix.lower() == ".xml")
        for candidate in (self.folder / "ImageSets" / "Main" / f"{self.split}.txt",
                          self.folder / f"{self.split}.txt", self.folder / self.split):
            if candidate.is_file():
                lines = candidate.read_text().split("\n")
                return [line.split()[0] for line in lines if line.strip()]
        raise FileNotFoundError(f"VOC split '{self.split}' not found: looked for "
                                f"ImageSets/Main/{self.split}.txt and {self.split}.txt in '{self.folder}'")


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



def _read(xml: Path, folders: list[Path], index: FolderIndex) -> VocFile:
    """Parse ``xml`` and find its image in ``folders``; a bad file becomes ``VocFile.error``."""
    try:
        filename, objects = parse_voc_xml(xml)
    except (FileNotFoundError, ValueError) as exc:
        return VocFile(xml, folders[0] / f"{xml.stem}.jpg", [], str(exc))
    names = [base_name(filename or ""), xml.stem, Path(base_name(filename or "")).stem]
    image = index.find_image(folders, names)
    # not found: name the file the XML asks for, so the report says which image is missing
    return VocFile(xml, image or folders[0] / base_name(filename or f"{xml.stem}.jpg"), objects)


def read_voc_sets(root: Path, sets: list[str]) -> list[VocFile]:
    """The XML files of VOC ``sets`` ("FOLDER:SPLIT") under ``root``."""
    index = FolderIndex()
    out = []
    for spec in sets:
        voc = VocSet.parse(root, spec)
        annotations, images = voc.annotation_dir, voc.image_dir
        for image_id in voc.ids():
            xml = index.find(annotations, f"{image_id}.xml") or annotations / f"{image_id}.xml"
            out.append(_read(xml, [images], index))
    return out


def read_voc_folder(annotations: Path, images: Path | None) -> tuple[list[VocFile], list[Path]]:
    """Every XML file under ``annotations`` and the image files no XML names (unannotated).

    Images are looked for in ``images`` (at the XML's relative sub-folder, then at its top) or,
    without it, beside each XML file.
    """
    if not annotations.is_dir():
        raise FileNotFoundError(f"VOC annotation folder '{annotations}' does not exist")
    if images is not None and not images.is_dir():
        raise FileNotFoundError(f"VOC image folder '{images}' does not exist")
    xmls = sorted(p for p in annotations.rglob("*") if p.is_file() and p.suffix.lower() == ".xml")
    if not xmls:
        raise FileNotFoundError(f"VOC annotation folder '{annotations}' holds no .xml files")
    index = FolderIndex()
    files = []
    for xml in xmls:
        folders = [images / xml.parent.relative_to(annotations), images] if images else [xml.parent]
        files.append(_read(xml, folders, index))
    used = {resolved(f.image) for f in files}
    candidates = image_files(images) if images else sorted({p for x in xmls for p in image_files(x.parent, False)})
    return files, [p for p in candidates if resolved(p) not in used]


def voc_classes(files: list[VocFile]) -> list[str]:
    """Sorted class names of the objects in ``files``."""
    return sorted({o.name for f in files for o in f.objects})


def voc_draft(files: list[VocFile], class_names: list[str], source: str, root: Path,
              unannotated: Sequence[Path] = ()) -> Draft:
    """A ``Draft`` with categories 1..K in ``class_names`` order. Objects of other classes are
    skipped and reported; unreadable XML files are errors naming the file."""
    category = {name: i + 1 for i, name in enumerate(class_names)}
    draft = Draft(source, root, [{"id": i, "name": n} for n, i in category.items()])
    for file in files:
        if file.error:
            draft.report.add("bad_annotation", file.xml, file.error)
            continue
        image_id = draft.add_image(file.image, voc_xml=str(file.xml))
        for n, obj in enumerate(file.objects, 1):
            where = f"{file.xml} <object> {n}"
            if obj.name not in category:
                draft.report.add("skipped_class", where, f"class '{obj.name}' is not in data.class_names")
                continue
            draft.add_box(image_id, category[obj.name], where, bbox=xyxy_to_xywh(obj.box), crowd=obj.difficult)
    for path in unannotated:
        draft.report.add("unannotated_image", path, "no XML names it")
    return draft
