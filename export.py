"""Export a trained detector for deployment, and check the export against PyTorch.

    python export.py --checkpoint runs/shapes_focal/best.pt --output retinanet.onnx
    python export.py --checkpoint CKPT --output retinanet.pt2 --format program   # torch.export
    python export.py --checkpoint CKPT --output retinanet.onnx --check data/shapes/val/000000.png

The graph takes images (N, 3, H, W) RGB in [0, 1] (batch, height and width are dynamic) and returns
cls_logits, box_deltas, anchors and anchors_per_level; post-processing is the separate step
``detector.inference.postprocess.PostProcessor`` (``detector.inference.export.OnnxDetector`` does the whole pipeline
with ONNX Runtime). --check runs one or more images through both ONNX Runtime and PyTorch and
prints the largest differences.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from detector.core.config import ConfigError
from detector.data.images import load_rgb
from detector.core.checkpoint import CheckpointError
from detector.inference.detector import Detector, load_detector
from detector.inference.export import OnnxDetector, export_onnx, export_program, torch_detections


def compare(onnx_path: Path, detector: Detector, images: list[Path]) -> dict[str, float | bool]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--output", required=True, help="file to write (.onnx or .pt2)")
    parser.add_argument("--format", choices=["onnx", "program"], default="onnx",
                        help="onnx (default) or a torch.export program")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--check", action="append", metavar="IMAGE",
                        help="compare ONNX Runtime with PyTorch on this image (repeat for more)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, e.g. inference.*")
    args = parser.parse_args(argv)
    try:
        detector = load_detector(args.checkpoint, ["train.device=cpu", *args.overrides])
        if args.format == "program":
            print(f"wrote {export_program(detector, args.output)}")
            return 0
        path = export_onnx(detector, args.output, args.opset)
        print(f"wrote {path}")
        if args.check:
            print(json.dumps(compare(path, detector, [Path(p) for p in args.check]), indent=1))
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
