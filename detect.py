"""Run a trained detector on new images: COCO-format JSON plus the images with detections drawn.

    python detect.py --checkpoint runs/shapes_focal/best.pt --input data/shapes/val/000000.png
    python detect.py --checkpoint CKPT --input photos/ --output detections/ --score-thresh 0.4
    python detect.py --checkpoint CKPT --input list.txt        # one image path per line
    python detect.py --checkpoint CKPT --input photos/ inference.nms_thresh=0.6   # config overrides

Writes <output>/detections.json (one entry per detection: file, image_id, category_id (the dataset's
real id), category name, bbox [x, y, w, h] in original pixels, score) and <output>/<image name>.png
with the detections drawn (class name and score).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torchvision.io import write_png

from detector.core.checkpoint import CheckpointError
from detector.core.config import ConfigError
from detector.data.image_files import image_paths
from detector.evaluation.draw import draw_file
from detector.inference.detector import load_detector
from detector.inference.predict import detect_files, detection_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--input", required=True, help="image file, folder of images, or .txt list of paths")
    parser.add_argument("--output", default="detections", help="folder for detections.json and drawn images")
    parser.add_argument("--score-thresh", type=float, default=0.3,
                        help="keep detections scoring at least this (default 0.3)")
    parser.add_argument("--no-draw", action="store_true", help="only write detections.json")
    parser.add_argument("--draw-min-size", type=int, default=0, metavar="PX",
                        help="upscale small images to at least this longer side for drawing (labels stay legible)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)
    try:
        det = load_detector(args.checkpoint, args.overrides)
        det.postprocess.score_thresh = min(det.postprocess.score_thresh, args.score_thresh)
        files = image_paths(args.input)
        detections = detect_files(det, files)
    except (ConfigError, CheckpointError, FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    records = detection_records(files, detections, det, args.score_thresh)
    (out / "detections.json").write_text(json.dumps(records, indent=1))
    unique = len({f.stem for f in files}) == len(files)
    for index, (file, d) in enumerate(zip(files, detections)) if not args.no_draw else ():
        write_png(draw_file(file, d, det.class_names, args.score_thresh, args.draw_min_size),
                  str(out / (f"{file.stem}.png" if unique else f"{index:05d}_{file.stem}.png")))
    print(f"{len(records)} detections with score >= {args.score_thresh} in {len(files)} images -> "
          f"{out / 'detections.json'}" + ("" if args.no_draw else f" and {len(files)} drawn images"))
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
