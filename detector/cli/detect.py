"""Run a trained detector on new images: COCO-style JSON plus the images with detections drawn.

    focaldet detect --checkpoint runs/shapes_focal/best.pt --input data/shapes/val/000000.png
    focaldet detect --checkpoint CKPT --input photos/ --output detections/ --score-thresh 0.4
    focaldet detect --checkpoint CKPT --input list.txt        # one image path per line
    focaldet detect --checkpoint CKPT --input photos/ inference.nms_thresh=0.6   # config overrides
    focaldet detect --weights tv_coco.pth --config coco2017_torchvision --input photos/

Writes <output>/detections.json (one entry per detection: file, image_id, category_id (the dataset's
real id), category name, bbox [x, y, w, h] in original pixels, score) and <output>/<image name>.png
with the detections drawn (class name and score). ``--input`` is an image, a folder, a glob
("photos/*.jpg", quoted) or a .txt list. A file that cannot be read follows ``data.on_bad_image``
as training does: "skip" (the default) leaves it out, warns, and lists it in <output>/skipped.txt;
``data.on_bad_image=error`` stops at it (exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from detector.cli.common import add_config, add_overrides

if TYPE_CHECKING:  # the package loads when the command runs, not when its --help is shown
    import torch

    from detector.api.predictor import Prediction, Predictor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="one of our checkpoints (last.pt or best.pt)")
    source.add_argument("--weights", help="a weights file for the model of --config (torchvision's RetinaNet "
                                          "state_dict predicts COCO's 80 categories)")
    add_config(parser, default=None, help="with --weights: the config giving the model")
    parser.add_argument("--input", required=True,
                        help="image file, folder of images, glob (quoted: 'photos/*.jpg') or .txt list of paths")
    parser.add_argument("--output", default="detections", help="folder for detections.json and drawn images")
    parser.add_argument("--score-thresh", type=float, default=None,
                        help="keep detections scoring at least this (default: inference.score_thresh, 0.05, "
                             "as Predictor.predict and eval)")
    parser.add_argument("--batch-size", type=int, default=0, help="images per batch (default: the config's)")
    parser.add_argument("--no-draw", action="store_true", help="only write detections.json")
    parser.add_argument("--draw-min-size", type=int, default=0, metavar="PX",
                        help="upscale small images to at least this longer side for drawing (labels stay legible)")
    add_overrides(parser, "config overrides, e.g. inference.nms_thresh=0.6")


def draw(model: Predictor, file: Path, p: Prediction, min_score: float, min_size: int) -> torch.Tensor:
    """``file`` with ``p`` drawn in the class colours (labels as indices of ``class_names``)."""
    import torch

    from detector.core.structures import Detections
    from detector.evaluation.draw import draw_file

    index = {c: j for j, c in enumerate(model.category_ids)}
    labels = torch.tensor([index[c] for c in p["labels"].tolist()], dtype=torch.int64)
    return draw_file(file, Detections(boxes=p["boxes"], scores=p["scores"], labels=labels),
                     model.class_names, min_score, min_size)


def run(args: argparse.Namespace) -> int:
    from torchvision.io import write_png

    from detector.api.predictor import detection_records, load
    from detector.data.image_files import image_paths

    if bool(args.weights) != bool(args.config):
        args.parser.error("--weights and --config go together")
    model = load(args.checkpoint or args.weights, args.config, args.overrides)
    files = image_paths(args.input)
    thresh = model.detector.postprocess.score_thresh if args.score_thresh is None else args.score_thresh
    predictions = model.predict(files, args.batch_size or None, thresh)
    if not predictions and model.skipped:
        raise OSError(f"none of the {len(files)} images could be read: {model.skipped[0][1]}")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    records = detection_records(predictions, thresh)
    (out / "detections.json").write_text(json.dumps(records, indent=1))
    unique = len({f.stem for f in files}) == len(files)
    for index, p in enumerate(predictions) if not args.no_draw else ():
        file = Path(p["file"])
        write_png(draw(model, file, p, thresh, args.draw_min_size),
                  str(out / (f"{file.stem}.png" if unique else f"{index:05d}_{file.stem}.png")))
    print(f"{len(records)} detections with score >= {thresh} in {len(predictions)} images -> "
          f"{out / 'detections.json'}" + ("" if args.no_draw else f" and {len(predictions)} drawn images"))
    if model.skipped:
        (out / "skipped.txt").write_text("".join(f"{file}\t{why}\n" for file, why in model.skipped))
        print(f"{len(model.skipped)} of {len(files)} images could not be read and were left out "
              f"(data.on_bad_image=skip): {out / 'skipped.txt'}")
    return 0
