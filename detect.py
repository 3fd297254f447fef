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

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import write_png

from detector.core.config import ConfigError
from detector.data.build import collate
from detector.data.images import load_rgb
from detector.data.transforms import Letterbox
from detector.data.voc import IMAGE_SUFFIXES
from detector.core.checkpoint import CheckpointError
from detector.inference.detector import load_detector
from detector.evaluation.draw import draw_detections
from detector.evaluation.predict import predict


def image_paths(source: str) -> list[Path]:
    """An image file, a folder of images (sorted), or a text file listing one path per line."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"folder '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"input '{path}' does not exist")
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return [Path(line) if Path(line).is_absolute() else path.parent / line for line in lines]
    return [path]


class ImageFiles(Dataset):
    """Images without annotations, in the training data contract (empty targets)."""

    def __init__(self, files: list[Path], transform: Letterbox) -> None:
        self.files = files
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        image = load_rgb(self.files[index])
        h, w = image.shape[:2]
        image, boxes, labels, crowd, scale = self.transform(image, np.zeros((0, 4), np.float32),
                                                            np.zeros(0, np.int64), np.zeros(0, bool))
        return image, {"boxes": boxes, "labels": labels, "crowd": crowd, "image_id": index,
                       "orig_size": (h, w), "scale": scale}


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
        dataset = ImageFiles(files, Letterbox(det.cfg.augment, train=False))
        loader = DataLoader(dataset, batch_size=det.cfg.train.batch_size, collate_fn=collate)
        detections, _ = predict(det.model, det.postprocess, loader, det.device, det.amp_dtype)
    except (ConfigError, CheckpointError, FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    unique = len({f.stem for f in files}) == len(files)
    for index, (file, d) in enumerate(zip(files, detections)):
        keep = d["scores"] >= args.score_thresh
        d = {k: v[keep] for k, v in d.items()}
        for box, score, label in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist()):
            results.append({"file": str(file), "image_id": index, "category_id": det.cat_ids[label],
                            "category": det.class_names[label], "score": round(score, 5),
                            "bbox": [round(box[0], 2), round(box[1], 2), round(box[2] - box[0], 2),
                                     round(box[3] - box[1], 2)]})
        if not args.no_draw:
            image = torch.from_numpy(load_rgb(file)).permute(2, 0, 1).contiguous()
            factor = max(1, -(-args.draw_min_size // max(image.shape[-2:])))  # integer upscale, ceil
            if factor > 1:
                image = image.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
                d = {**d, "boxes": d["boxes"] * factor}
            write_png(draw_detections(image, d, det.class_names, args.score_thresh),
                      str(out / (f"{file.stem}.png" if unique else f"{index:05d}_{file.stem}.png")))
    (out / "detections.json").write_text(json.dumps(results, indent=1))
    print(f"{len(results)} detections with score >= {args.score_thresh} in {len(files)} images -> "
          f"{out / 'detections.json'}" + ("" if args.no_draw else f" and {len(files)} drawn images"))
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
