"""Export a trained detector for deployment, and check the export against PyTorch.

    focaldet export --checkpoint runs/shapes_focal/best.pt --output retinanet.onnx
    focaldet export --checkpoint CKPT --output retinanet.pt2 --format program   # torch.export
    focaldet export --checkpoint CKPT --output retinanet.onnx --check data/shapes/val/000000.png

The graph takes images (N, 3, H, W) RGB in [0, 1] (N dynamic; H and W fixed at augment.image_size under
letterbox resizing, the default, and dynamic from 129 px under shortest_edge) and returns
cls_logits, box_deltas, anchors and anchors_per_level; post-processing is the separate step
``detector.inference.postprocess.PostProcessor`` (``detector.inference.export.OnnxDetector`` does the whole
pipeline with ONNX Runtime). --check runs one or more images through both ONNX Runtime and PyTorch
and prints the largest differences. Needs the ``export`` extra: pip install "focaldet[export]".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detector.cli.common import add_overrides, require_extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--output", required=True, help="file to write (.onnx or .pt2)")
    parser.add_argument("--format", choices=["onnx", "program"], default="onnx",
                        help="onnx (default) or a torch.export program")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--check", action="append", metavar="IMAGE",
                        help="compare ONNX Runtime with PyTorch on this image (repeat for more)")
    add_overrides(parser, "config overrides, e.g. inference.*")


def run(args: argparse.Namespace) -> int:
    from detector.inference.detector import load_detector
    from detector.inference.export import compare_with_torch, export_onnx, export_program

    if args.format == "onnx":  # torch's dynamo ONNX exporter needs onnx and onnxscript; --check runs ONNX Runtime
        for module in ("onnx", "onnxscript", *(["onnxruntime"] if args.check else [])):
            require_extra(module, "export")
    detector = load_detector(args.checkpoint, ["train.device=cpu", *args.overrides])
    if args.format == "program":
        print(f"wrote {export_program(detector, args.output)}")
        return 0
    path = export_onnx(detector, args.output, args.opset)
    print(f"wrote {path}")
    if args.check:
        print(json.dumps(compare_with_torch(path, detector, [Path(p) for p in args.check]), indent=1))
    return 0
