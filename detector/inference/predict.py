"""Run a detector over a dataset or over image files, and turn detections into records."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision.ops import box_convert

from detector.core.structures import Detections, Sample
from detector.data.build import collate
from detector.data.image_files import ImageFiles
from detector.data.transforms import DetectionTransform
from detector.inference.detector import Detector
from detector.inference.postprocess import PostProcessor


def to_coco_results(detections: list[Detections], image_ids: list[int], cat_ids: list[int]
                    ) -> list[dict[str, Any]]:
    """Per-image ``boxes`` xyxy / ``scores`` / ``labels`` -> COCO results with real category ids."""
    out = []
    cat = torch.tensor(cat_ids)
    for det, image_id in zip(detections, image_ids):
        boxes = det["boxes"].float().cpu()
        xywh = box_convert(boxes, "xyxy", "xywh").tolist()
        for b, s, c in zip(xywh, det["scores"].float().cpu().tolist(), cat[det["labels"].cpu()].tolist()):
            out.append({"image_id": int(image_id), "category_id": int(c), "bbox": [round(v, 2) for v in b],
                        "score": round(float(s), 5)})
    return out


@torch.no_grad()
def predict(model: nn.Module, postprocess: PostProcessor, loader: Iterable, device: torch.device,
            amp_dtype: torch.dtype | None = None, channels_last: bool = False
            ) -> tuple[list[Detections], list[int]]:
    """Detections in original image pixels for every image of ``loader``, and their image ids."""
    was_training = model.training
    model.eval()
    detections: list[Detections] = []
    image_ids: list[int] = []
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            preds = model(images)
        dets = postprocess(preds, targets["orig_size"].to(device), targets["scale"].to(device))
        detections += [Detections(boxes=d["boxes"].cpu(), scores=d["scores"].cpu(), labels=d["labels"].cpu())
                       for d in dets]
        image_ids += targets["image_id"].tolist()
    model.train(was_training)
    return detections, image_ids


def collate_readable(items: list[tuple[Any, dict[str, Any]]]) -> tuple[Any, list[tuple[int, str]]]:
    """``collate`` of the items that were read (None when none was), and (position, why) of the rest
    (``ImageFiles(skip_unreadable=True)``)."""
    read = [item for item in items if item[0] is not None]
    failed = [(int(t["image_id"]), str(t["error"])) for image, t in items if image is None]
    return (collate(cast(list[tuple[Tensor, Sample]], read)) if read else None), failed


def detect_images(det: Detector, images: list[Any], batch_size: int | None = None, on_bad_image: str | None = None
                  ) -> tuple[list[Detections], list[int], list[tuple[int, str]]]:
    """Detections in original pixels (contiguous labels) for each image: paths, PIL images, arrays or
    tensors (``data.images.as_rgb``), read ``batch_size`` at a time (default ``train.batch_size``)
    and preprocessed as the detector was trained.

    ``on_bad_image`` (default the detector's ``data.on_bad_image``): "skip" leaves a file that cannot
    be read out with a warning naming it, "error" raises ``OSError``. Returns (detections, the
    position in ``images`` of each, (position, why) of each file left out).
    """
    policy = on_bad_image or det.cfg.data.on_bad_image
    files = ImageFiles(images, DetectionTransform(det.cfg.augment, train=False), skip_unreadable=policy == "skip")
    loader = DataLoader(files, batch_size=batch_size or det.cfg.train.batch_size, collate_fn=collate_readable)
    skipped: list[tuple[int, str]] = []

    def readable() -> Iterator[Any]:
        for batch, failed in loader:
            for _, why in failed:
                warnings.warn(f"{why}; left out (data.on_bad_image=skip)", stacklevel=2)
            skipped.extend(failed)
            if batch is not None:
                yield batch

    detections, positions = predict(det.model, det.postprocess, readable(), det.device, det.amp_dtype)
    return detections, positions, skipped
