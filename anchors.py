"""Anchor coverage report for a dataset and config, with better anchors suggested and measured.

    python anchors.py                                          # the default synthetic config
    python anchors.py --config configs/raccoon.yaml --draw 6   # + 6 images drawn
    python anchors.py --config FILE --split val --max-images 2000 key.sub=value ...

Prints how many ground-truth boxes get no anchor at IoU >= matcher.fg_iou (by size and by aspect
ratio), positives per image and the foreground:background anchor ratio; then searches anchor
sizes/ratios that cover the boxes better, prints their coverage and the override to use them.
With --draw, writes images (model-input pixels) with covered boxes in green, uncovered in red and
positive anchors in yellow to <output>/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torchvision.io import write_png
from torchvision.utils import draw_bounding_boxes

from detector.evaluation.coverage import (anchor_override, dataset_boxes, format_coverage, measure,
                                        suggest)
from detector.core.boxes import build_matcher, pairwise_iou
from detector.core.config import Config, ConfigError, load_config
from detector.data.build import build_dataset
from detector.evaluation.draw import to_uint8
from detector.model.anchors import build_anchor_generator, feature_sizes

DEFAULT_CONFIG = "configs/shapes_focal.yaml"


def draw(cfg: Config, split: str, image_ids: list[int], out: Path) -> None:
    """Covered boxes green, uncovered red, positive anchors yellow, on the model-input image."""
    dataset = build_dataset(cfg, split, train_transforms=False)
    generator = build_anchor_generator(cfg.model.anchors)
    matcher = build_matcher(cfg.matcher)
    out.mkdir(parents=True, exist_ok=True)
    index_of = {image_id: i for i, image_id in enumerate(dataset.image_ids)}
    for image_id in image_ids:
        image, target = dataset[index_of[image_id]]
        boxes = target["boxes"][~target["crowd"]]
        grid = generator(feature_sizes(*image.shape[-2:]), torch.device("cpu"))
        matches = matcher(grid, boxes[None], torch.ones(1, len(boxes), dtype=torch.bool))[0]
        canvas = draw_bounding_boxes(to_uint8(image), grid[matches >= 0], colors="yellow", width=1)
        if len(boxes):
            covered = pairwise_iou(grid, boxes).max(dim=0).values >= cfg.matcher.fg_iou
            colors = ["green" if c else "red" for c in covered.tolist()]
            canvas = draw_bounding_boxes(canvas, boxes, colors=colors, width=2)
        write_png(canvas, str(out / f"coverage_{image_id}.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--split", choices=["train", "val"], default="train")
    parser.add_argument("--max-images", type=int, default=2000, help="images measured (0 = all)")
    parser.add_argument("--draw", type=int, default=0, metavar="N", help="draw N images, uncovered boxes first")
    parser.add_argument("--output", help="folder for drawn images (default runs/<config name>/coverage)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        images = dataset_boxes(build_dataset(cfg, args.split, train_transforms=False), cfg.augment,
                               args.max_images)
        if not images:
            raise ValueError(f"the {args.split} split has no images with a known size")
        current = measure(images, cfg.model.anchors, cfg.matcher)
        print(format_coverage(current, f"configured anchors ({anchor_override(cfg.model.anchors)})"))
        better, cov = suggest(images, cfg.model.anchors, cfg.matcher)
        if cov.covered > current.covered:
            print(format_coverage(cov, "suggested anchors"))
            print(f"to use them: python train.py --config {args.config} {anchor_override(better)}")
        else:
            print("no candidate anchors cover more boxes than the configured ones")
        if args.draw:
            ids = list(current.uncovered_ids) + [i.image_id for i in images if i.image_id not in current.uncovered_ids]
            out = Path(args.output or Path("runs") / cfg.name / "coverage")
            draw(cfg, args.split, ids[: args.draw], out)
            print(f"drew {min(args.draw, len(ids))} images to {out}/")
    except (ConfigError, FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
