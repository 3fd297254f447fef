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

from detector.cli.common import add_overrides


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
    from detector.api.exports import export

    exported = export(args.checkpoint, args.output, args.format, args.opset, args.check or (), args.overrides)
    print(f"wrote {exported.path}")
    if exported.check is not None:
        print(json.dumps(exported.check, indent=1))
    return 0
