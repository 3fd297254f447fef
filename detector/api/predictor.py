"""A trained detector for new images: ``load`` a checkpoint (ours, or torchvision's RetinaNet
state_dict with a config), then ``predict`` on paths, PIL images, numpy arrays or tensors.

    >>> model = load("runs/shapes_focal/best.pt")
    >>> [out] = model.predict(["photo.jpg"])
    >>> out["boxes"], out["scores"], out["labels"], out["names"]

Each image gives a torchvision-style dict: ``boxes`` (N, 4) float32 xyxy in the image's own pixels,
``scores`` (N,), ``labels`` (N,) int64 (the dataset's category ids, as in COCO results and
torchvision's COCO models) and ``names`` (N class names), highest score first; and ``file``, the
image's path ("" for an image given as pixels). A folder, a glob or a .txt list stands for its images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import Tensor

from detector.core.boxes import xyxy_to_xywh
from detector.core.config import load_config
from detector.data.image_files import image_paths
from detector.inference.detector import Detector, detector_from_weights, load_detector
from detector.inference.predict import detect_images
from detector.model.weights import coco_names

ImageLike = Any  # str | Path | PIL.Image.Image | np.ndarray | torch.Tensor (see data.images.as_rgb)


class Prediction(TypedDict):
    boxes: Tensor  # (N, 4) float32, xyxy, original pixels
    scores: Tensor  # (N,) float32
    labels: Tensor  # (N,) int64 dataset category ids
    names: list[str]  # (N,) class names
    file: str  # the image's path; "" for an image given as pixels


class Predictor:
    """A RetinaNet restored for inference (in eval mode, on its device); see ``load``."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.skipped: list[tuple[str, str]] = []  # (file, why) of each file the last ``predict`` left out

    @property
    def class_names(self) -> list[str]:
        return self.detector.class_names

    @property
    def category_ids(self) -> list[int]:
        return self.detector.cat_ids

    @property
    def device(self) -> torch.device:
        return self.detector.device

    @torch.no_grad()
    def predict(self, images: ImageLike | Sequence[ImageLike], batch_size: int | None = None,
                score_thresh: float | None = None, on_bad_image: str | None = None) -> list[Prediction]:
        """One ``Prediction`` per image, in order. ``images``: one image or a list of them (paths,
        PIL images, (H, W, 3) uint8 / [0, 1] float RGB arrays, (3, H, W) tensors); a single path may
        also be a folder, a glob (``"photos/*.jpg"``) or a .txt list of paths (``image_paths``).
        They are read and run ``batch_size`` at a time (default ``train.batch_size`` of the
        checkpoint's config). ``score_thresh`` replaces ``inference.score_thresh`` (the one default
        of ``predict``, ``focaldet detect`` and ``focaldet eval``: 0.05) for this call.

        A file that cannot be read follows ``on_bad_image`` (default the config's
        ``data.on_bad_image``, "skip"): "skip" leaves it out of the results with a warning naming
        it, and lists it in ``self.skipped``; "error" raises ``OSError`` naming it.
        """
        if isinstance(images, (str, Path)):
            items: list[Any] = list(image_paths(images))
        else:
            items = list(images) if isinstance(images, (list, tuple)) else [images]
        post = self.detector.postprocess
        kept = post.score_thresh
        if score_thresh is not None:
            post.score_thresh = score_thresh
        try:
            raw, positions, skipped = detect_images(self.detector, items, batch_size, on_bad_image)
        finally:
            post.score_thresh = kept
        self.skipped = [(str(items[i]), why) for i, why in skipped]
        ids = torch.tensor(self.detector.cat_ids, dtype=torch.int64)
        return [Prediction(boxes=d["boxes"].float(), scores=d["scores"].float(), labels=ids[d["labels"]],
                           names=[self.class_names[j] for j in d["labels"].tolist()], file=_file(items[i]))
                for d, i in zip(raw, positions)]

    __call__ = predict


def _file(source: ImageLike) -> str:
    return str(source) if isinstance(source, (str, Path)) else ""


def detection_records(predictions: Sequence[Prediction], min_score: float = 0.0) -> list[dict[str, Any]]:
    """One JSON-ready record per detection scoring >= ``min_score``: file (a path input's, else ""),
    image_id (the position among ``predictions``), category_id, category, score, bbox [x, y, w, h]
    in original pixels."""
    records = []
    for index, p in enumerate(predictions):
        keep = (p["scores"] >= min_score).tolist()
        rows = zip(keep, p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), p["names"])
        for box, score, label, name in ((b, s, c, n) for k, b, s, c, n in rows if k):
            records.append({"file": p["file"], "image_id": index,
                            "category_id": label, "category": name, "score": round(score, 5),
                            "bbox": [round(v, 2) for v in xyxy_to_xywh(box)]})
    return records


def _categories(classes: Sequence[str] | Mapping[int, str] | None, configured: list[str]) -> dict[int, str]:
    """Category id -> name for a weights file used without a dataset. ``None``: the config's
    ``data.class_names``, else COCO's 80 categories by their ids (what torchvision's COCO weights
    predict). A list of names: their COCO ids when every name is a COCO category, else 1..K."""
    if isinstance(classes, Mapping):
        return {int(k): str(v) for k, v in classes.items()}
    coco = {name: i for i, name in enumerate(coco_names()) if name not in ("__background__", "N/A")}
    names = list(classes) if classes is not None else configured
    if not names:
        return {i: name for name, i in coco.items()}
    if all(name in coco for name in names):
        return {coco[name]: name for name in names}
    return {i + 1: name for i, name in enumerate(names)}


def load(weights: str | Path, config: str | Path | None = None, overrides: Sequence[str] = (),
         classes: Sequence[str] | Mapping[int, str] | None = None, device: str | None = None) -> Predictor:
    """A ``Predictor`` from one of our checkpoints (its config and classes come with it), or, with
    ``config``, from a weights file for that config's model: torchvision's RetinaNet state_dict
    (e.g. ``config="coco2017_torchvision"``) or a checkpoint. ``classes`` name what such a file
    predicts (see ``_categories``). ``overrides`` are ``key.sub=value`` strings (e.g.
    ``inference.nms_thresh=0.6``); ``device`` is "cpu", "cuda", "cuda:1" (default: the best there is)."""
    extra = [*overrides, f"train.device={device}"] if device else list(overrides)
    if config is None:
        return Predictor(load_detector(weights, extra))
    cfg = load_config(config, extra)
    categories = _categories(classes, cfg.data.class_names)
    return Predictor(detector_from_weights(cfg, weights, list(categories), list(categories.values())))


__all__ = ["ImageLike", "Prediction", "Predictor", "detection_records", "load"]
