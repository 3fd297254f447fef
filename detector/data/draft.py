"""Every annotation format is read into a ``Draft`` (COCO-shaped, sizes not yet known), the images
are checked, and ``finish`` turns the two into the COCO dict the dataset reads.

This is the one place where boxes are judged: NaN and negative sizes are errors, boxes outside
the image are reported (``CocoDetection`` clips them), zero-size boxes are reported (it drops
them). COCO-format boxes are passed on unchanged, so COCO evaluation scores the user's own
ground truth; YOLO's normalised boxes become pixels here, once the image sizes are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.core.boxes import cxcywh_to_xywh, xywh_to_xyxy
from detector.data.images import ImageInfo
from detector.data.problems import SplitReport

OUTSIDE_TOLERANCE = 1.0  # px: boxes that poke out by rounding (common in COCO) are not reported


@dataclass
class Draft:
    """Annotations as read, before the image files are checked.

    ``images``: COCO image dicts (``id``, ``file_name`` relative to ``root`` or absolute, and
    ``width``/``height`` where the format states them). ``annotations``: COCO annotation dicts
    (``id``, ``image_id``, ``category_id``, ``iscrowd``) with either ``bbox`` [x, y, w, h] in
    pixels or ``bbox_norm`` [cx, cy, w, h] as fractions of the image size (YOLO), and ``where``:
    the file and row or field the box came from, for messages.
    """

    source: str
    root: Path
    categories: list[dict[str, Any]]
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    report: SplitReport = field(default_factory=lambda: SplitReport("", ""))
    extra: dict[str, Any] = field(default_factory=dict)  # other top-level COCO keys (info, licenses)

    def path(self, image: dict[str, Any]) -> Path:
        return self.root / image["file_name"]

    def add_image(self, path: Path, **fields: Any) -> int:
        """Append an image (``file_name`` relative to ``root`` where it can be) and return its id."""
        try:
            name = str(path.relative_to(self.root))
        except ValueError:
            name = str(path)
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": name, **fields})
        return image_id

    def add_box(self, image_id: int, category_id: int, where: str, bbox: list[float] | None = None,
                bbox_norm: list[float] | None = None, crowd: bool = False) -> None:
        ann = {"id": len(self.annotations) + 1, "image_id": image_id, "category_id": category_id,
               "iscrowd": int(crowd), "where": where}
        ann.update({"bbox": bbox} if bbox is not None else {"bbox_norm": bbox_norm})
        self.annotations.append(ann)

    def subset(self, keep_ids: set[int], source: str) -> Draft:
        """The images in ``keep_ids`` with their annotations (ids unchanged)."""
        return Draft(source, self.root, self.categories, [im for im in self.images if im["id"] in keep_ids],
                     [a for a in self.annotations if a["image_id"] in keep_ids],
                     SplitReport("", source, self.report.class_names), self.extra)


def _pixel_box(ann: dict[str, Any], w: int, h: int) -> list[float]:
    return cxcywh_to_xywh(ann["bbox_norm"], w, h) if "bbox_norm" in ann else list(ann["bbox"])


def judge_box(bbox: list[float], w: float, h: float) -> tuple[list[float] | None, tuple[str, str] | None]:
    """The one judgement of a pixel box [x, y, bw, bh] in a (w, h) image (``inf`` for a size not
    known): (the box as xyxy clipped to the image, None when it is not usable: not finite, a negative
    side, no area inside the image; the problem (kind, detail) to report, or None). A box reaching
    outside by more than ``OUTSIDE_TOLERANCE`` is usable, clipped, and reported."""
    if not all(math.isfinite(v) for v in bbox):
        return None, ("bad_annotation", f"box {_fmt(bbox)} is not finite")
    if bbox[2] < 0 or bbox[3] < 0:
        return None, ("bad_annotation", f"box {_fmt(bbox)} has a negative width or height")
    x0, y0, x1, y1 = xywh_to_xyxy(bbox)
    clipped = [max(x0, 0.0), max(y0, 0.0), min(x1, w), min(y1, h)]
    if not (clipped[2] > clipped[0] and clipped[3] > clipped[1]):
        return None, ("degenerate_box", f"box {_fmt(bbox)} has no area inside the {w:g}x{h:g} image")
    t = OUTSIDE_TOLERANCE
    if x0 < -t or y0 < -t or x1 > w + t or y1 > h + t:
        return clipped, ("outside_box", f"box {_fmt(bbox)} reaches outside the {w:g}x{h:g} image")
    return clipped, None


def _fmt(bbox: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in bbox) + "] (x, y, w, h px)"


def finish(draft: Draft, infos: dict[Path, ImageInfo]) -> dict[str, Any]:
    """The COCO dict of ``draft``'s usable images, with sizes from the image files; every problem
    goes to ``draft.report``, which also gets the counts."""
    report = draft.report
    sizes: dict[int, tuple[int, int]] = {}
    images = []
    for image in draft.images:
        path = draft.path(image)
        info = infos[path]
        if not info.usable:
            report.add(f"{info.status}_image", path, info.detail)
            continue
        if info.status == "truncated":
            report.add("truncated_image", path, info.detail)
        if info.orientation != 1:
            report.add("exif_rotated", path, f"EXIF orientation {info.orientation}")
        if info.misnamed(path):
            report.add("misnamed_format", path, f"{info.format} content named '{path.suffix}'")
        stated = (image.get("width"), image.get("height"))
        if all(isinstance(v, (int, float)) and v > 0 for v in stated) and stated != (info.width, info.height):
            report.add("size_mismatch", path, f"annotation says {stated[0]}x{stated[1]}, "
                                              f"the file is {info.width}x{info.height}")
        images.append({**image, "width": info.width, "height": info.height})
        sizes[image["id"]] = (info.width, info.height)
    names = {c["id"]: c["name"] for c in draft.categories}
    per_class = {name: 0 for name in names.values()}
    with_boxes: set[int] = set()
    annotations = []
    for ann in draft.annotations:
        if ann["image_id"] not in sizes:
            continue
        w, h = sizes[ann["image_id"]]
        bbox = _pixel_box(ann, w, h)
        _, problem = judge_box(bbox, w, h)  # a degenerate box stays in the annotations; the dataset drops it
        where = ann.get("where") or f"annotation id {ann['id']}"
        if problem:
            report.add(problem[0], where, problem[1])
        if problem and problem[0] == "bad_annotation":
            continue
        out = {k: v for k, v in ann.items() if k not in ("where", "bbox_norm")}
        out["bbox"] = bbox
        out.setdefault("area", max(bbox[2], 0) * max(bbox[3], 0))
        annotations.append(out)
        if not (problem and problem[0] == "degenerate_box") and not out.get("iscrowd"):
            per_class[names[ann["category_id"]]] += 1
            with_boxes.add(ann["image_id"])
    report.class_names = list(names.values())
    report.images = len(images)
    report.boxes_per_class = per_class
    report.images_without_boxes = len(images) - len(with_boxes)
    return {**draft.extra, "images": images, "annotations": annotations, "categories": draft.categories}
