"""COCO-format detection datasets (also what the synthetic benchmark writes)."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from torch.utils.data import Dataset


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image by its content (not its extension) to (H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"image file '{path}' does not exist") from None
    except OSError as exc:
        raise OSError(f"image file '{path}' cannot be read: {exc}") from None


def load_coco(ann_file: str | Path) -> COCO:
    ann_file = Path(ann_file)
    if not ann_file.is_file():
        raise FileNotFoundError(f"annotation file '{ann_file}' does not exist")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        return COCO(str(ann_file))


class CocoDetection(Dataset):
    """Items are ``(image (3, H, W) float, target)`` following the project's data contract:
    target ``boxes`` (M, 4) xyxy pixels, ``labels`` (M,) int64 in 0..K-1, ``crowd`` (M,) bool,
    ``image_id`` int, ``orig_size`` (h, w) and ``scale`` (resize factor).

    COCO category ids need not be contiguous: ``cat_ids[label]`` maps a label back to its id.
    """

    def __init__(self, image_dir: str | Path, ann_file: str | Path, transform: Callable | None = None) -> None:
        self.image_dir = Path(image_dir)
        self.coco = load_coco(ann_file)
        self.ann_file = str(ann_file)
        self.cat_ids: list[int] = sorted(self.coco.getCatIds())
        if not self.cat_ids:
            raise ValueError(f"annotation file '{ann_file}' defines no categories")
        self.class_names = [self.coco.cats[c]["name"] for c in self.cat_ids]
        self.label_of = {c: i for i, c in enumerate(self.cat_ids)}
        self.image_ids: list[int] = sorted(self.coco.getImgIds())
        self.transform = transform
        self._report_dropped()

    def __len__(self) -> int:
        return len(self.image_ids)

    def _annotations(self, image_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Boxes (M, 4) xyxy clipped to the image, labels, crowd flags, and how many were dropped."""
        info = self.coco.imgs[image_id]
        w, h = info.get("width", np.inf), info.get("height", np.inf)
        boxes, labels, crowd, dropped = [], [], [], 0
        for ann in self.coco.imgToAnns.get(image_id, []):
            x, y, bw, bh = ann["bbox"]
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
            if x1 <= x0 or y1 <= y0:
                dropped += 1
                continue
            boxes.append([x0, y0, x1, y1])
            labels.append(self.label_of[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
        return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64),
                np.asarray(crowd, dtype=bool), dropped)

    def _report_dropped(self) -> None:
        dropped = sum(self._annotations(i)[3] for i in self.image_ids)
        if dropped:
            warnings.warn(f"{self.ann_file}: dropped {dropped} degenerate boxes (width or height <= 0 "
                          "inside the image)", stacklevel=2)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        image_id = self.image_ids[index]
        info = self.coco.imgs[image_id]
        image = load_rgb(self.image_dir / info["file_name"])
        boxes, labels, crowd, _ = self._annotations(image_id)
        h, w = image.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)  # the decoded image, not the JSON, is the truth
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, labels, crowd = boxes[keep], labels[keep], crowd[keep]
        scale = 1.0
        if self.transform is not None:
            image, boxes, labels, crowd, scale = self.transform(image, boxes, labels, crowd)
        return image, {"boxes": boxes, "labels": labels, "crowd": crowd, "image_id": image_id,
                       "orig_size": (h, w), "scale": scale}
