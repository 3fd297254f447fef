"""Export a trained detector to ONNX (or a torch.export program) and run the ONNX model.

The exported graph is the network: images (N, 3, H, W) RGB in [0, 1] (N dynamic; H, W dynamic from
129 px with ``augment.resize=shortest_edge``, else image_size) ->
``cls_logits`` (N, A, K), ``box_deltas`` (N, A, 4), ``anchors`` (A, 4) and ``anchors_per_level``
(5,) int64. Post-processing (score threshold, per-level top-k, box decoding, class-wise NMS) is a
separate step, the same ``detector.inference.postprocess.PostProcessor`` PyTorch inference uses, so both
paths give the same detections. ``OnnxDetector`` does pre-processing (the evaluation letterbox),
the ONNX Runtime call and that post-processing for you.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from detector.core.structures import Detections, Predictions
from detector.data.images import load_rgb
from detector.data.transforms import DetectionTransform
from detector.inference.detector import Detector
from detector.inference.postprocess import PostProcessor

OUTPUT_NAMES = ["cls_logits", "box_deltas", "anchors", "anchors_per_level"]
MIN_DYNAMIC_SIZE = 129


class ExportableRetinaNet(nn.Module):
    """The model with tensor-only outputs (``anchors_per_level`` as an int64 tensor)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        preds = self.model(images)
        counts = torch.stack([torch.scalar_tensor(c, dtype=torch.int64) for c in preds["anchors_per_level"]])
        return preds["cls_logits"], preds["box_deltas"], preds["anchors"], counts


def _export_args(detector: Detector) -> tuple[ExportableRetinaNet, tuple[Tensor], dict[str, Any]]:
    """The module, an example input and its dynamic dimensions.

    The batch is always dynamic. With ``augment.resize=letterbox`` every input is image_size x
    image_size, so height and width are fixed; with ``shortest_edge`` they are dynamic from
    ``MIN_DYNAMIC_SIZE``: torch.export assumes a symbolic size is never 1, and P7 (stride 128) is
    1 x 1 below 129 pixels.
    """
    aug = detector.cfg.augment
    dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1, max=1024)}
    if aug.resize == "letterbox":
        example = torch.rand(2, 3, aug.image_size, aug.image_size)
    else:  # no level 1 x 1 and height != width, so nothing specialises on the example
        example = torch.rand(2, 3, 256, 320)
        dims |= {2: torch.export.Dim("height", min=MIN_DYNAMIC_SIZE, max=8192),
                 3: torch.export.Dim("width", min=MIN_DYNAMIC_SIZE, max=8192)}
    return ExportableRetinaNet(detector.model.cpu()).eval(), (example,), {"images": dims}


def export_onnx(detector: Detector, path: str | Path, opset: int = 18) -> Path:
    """Write the network of ``detector`` to ``path`` as ONNX: the batch dynamic; height and width
    fixed at ``augment.image_size`` under letterbox resizing (the default), dynamic under
    ``shortest_edge`` (``_export_args``)."""
    module, args, dynamic = _export_args(detector)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, args, str(path), dynamo=True, opset_version=opset, input_names=["images"],
                      output_names=OUTPUT_NAMES, dynamic_shapes=dynamic, verbose=False,
                      external_data=False)  # one self-contained file (RetinaNets are far below 2 GB)
    return path


def export_program(detector: Detector, path: str | Path) -> Path:
    """Write the network as a ``torch.export`` program (``torch.export.load`` reads it back)."""
    module, args, dynamic = _export_args(detector)
    program = torch.export.export(module, args, dynamic_shapes=dynamic)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path))
    return path


def as_preds(outputs: list[np.ndarray] | tuple[Tensor, ...]) -> Predictions:
    """The four graph outputs -> the ``preds`` dict ``PostProcessor`` takes."""
    logits, deltas, anchors, counts = (torch.as_tensor(np.asarray(o)) for o in outputs)
    return Predictions(cls_logits=logits, box_deltas=deltas, anchors=anchors, anchors_per_level=counts.tolist())


def torch_detections(detector: Detector, transform: DetectionTransform, image: np.ndarray) -> Detections:
    """The PyTorch detector's output for one (H, W, 3) RGB image, preprocessed as ``OnnxDetector`` does."""
    tensor, scale = transform.image_only(image)
    with torch.no_grad():
        raw = detector.model(tensor[None])
    return detector.postprocess(raw, torch.tensor([image.shape[:2]]), torch.tensor([scale]))[0]


class OnnxDetector:
    """Detections from an exported ONNX file with ONNX Runtime, pre- and post-processed as in PyTorch."""

    def __init__(self, path: str | Path, detector: Detector) -> None:
        import onnxruntime as ort  # optional dependency: only needed to run exported models

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.transform = DetectionTransform(detector.cfg.augment, train=False)
        self.postprocess: PostProcessor = detector.postprocess

    def run(self, images: Tensor) -> Predictions:
        """images (N, 3, H, W) in [0, 1] -> the raw ``preds`` dict."""
        return as_preds(self.session.run(None, {"images": images.numpy()}))

    def __call__(self, image: np.ndarray) -> Detections:
        """One (H, W, 3) uint8 RGB image -> ``boxes`` (D, 4) xyxy original pixels, ``scores``, ``labels``."""
        h, w = image.shape[:2]
        tensor, scale = self.transform.image_only(image)
        preds = self.run(tensor[None])
        return self.postprocess(preds, torch.tensor([[h, w]]), torch.tensor([scale]))[0]


def compare_with_torch(onnx_path: Path, detector: Detector, images: list[Path]) -> dict[str, float | bool | int]:
    """Largest |box| difference and whether labels agree, ONNX Runtime vs PyTorch, over ``images``."""
    runner = OnnxDetector(onnx_path, detector)
    worst, same_labels = 0.0, True
    for path in images:
        image = load_rgb(path)
        ours = torch_detections(detector, runner.transform, image)
        theirs = runner(image)
        same_labels &= torch.equal(ours["labels"], theirs["labels"])
        if same_labels and len(ours["boxes"]):
            worst = max(worst, float((ours["boxes"] - theirs["boxes"]).abs().max()))
    return {"images": len(images), "same_labels": same_labels, "max_box_diff": worst}
