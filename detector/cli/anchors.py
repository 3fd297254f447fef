"""Anchor coverage report for a dataset and config, with better anchors suggested and measured.

    focaldet anchors                                           # the default synthetic config
    focaldet anchors --config raccoon --draw 6                 # + 6 images drawn
    focaldet anchors --config FILE --split val --max-images 2000 key.sub=value ...

Prints how many ground-truth boxes get no anchor at IoU >= matcher.fg_iou (by size and by aspect
ratio), positives per image, the foreground:background anchor ratio and each class's share of the boxes
and of the positive anchors (a large class claims more anchors per box); then searches anchor
sizes/ratios that cover the boxes better, prints their coverage and the override to use them.
With --draw, writes images (model-input pixels) with covered boxes in green, uncovered in red and
positive anchors in yellow to <output>/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--split", choices=["train", "val"], default="train")
    parser.add_argument("--max-images", type=int, default=2000, help="images measured (0 = all)")
    parser.add_argument("--draw", type=int, default=0, metavar="N", help="draw N images, uncovered boxes first")
    parser.add_argument("--output", help="folder for drawn images (default runs/<config name>/coverage)")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from torchvision.io import write_png

    from detector.core.config import load_config
    from detector.data.build import build_dataset
    from detector.engine.recipes import choose_recipe
    from detector.evaluation.coverage import (
        anchor_override,
        dataset_boxes,
        draw_coverage,
        format_coverage,
        measure,
        suggest,
    )

    cfg = load_config(args.config, args.overrides)
    if cfg.recipe == "auto":  # measure at the input size and anchors training would use
        choice = choose_recipe(args.config, args.overrides, search_anchors=False)
        print(choice.line())
        cfg = load_config(args.config, [*args.overrides, *choice.overrides])
    dataset = build_dataset(cfg, args.split, train_transforms=False)
    images = dataset_boxes(dataset, cfg.augment, args.max_images)
    if not images:
        raise ValueError(f"the {args.split} split has no images with a known size")
    current = measure(images, cfg.model.anchors, cfg.matcher)
    print(format_coverage(current, f"configured anchors ({anchor_override(cfg.model.anchors)})", dataset.class_names))
    better, cov = suggest(images, cfg.model.anchors, cfg.matcher)
    if cov.covered > current.covered:
        print(format_coverage(cov, "suggested anchors", dataset.class_names))
        print(f"to use them: focaldet train --config {args.config} {anchor_override(better)}")
    else:
        print("no candidate anchors cover more boxes than the configured ones")
    if args.draw:
        ids = list(current.uncovered_ids) + [i.image_id for i in images if i.image_id not in current.uncovered_ids]
        out = Path(args.output or Path("runs") / cfg.name / "coverage")
        out.mkdir(parents=True, exist_ok=True)
        for image_id in ids[: args.draw]:
            write_png(draw_coverage(dataset, image_id, cfg.model.anchors, cfg.matcher),
                      str(out / f"coverage_{image_id}.png"))
        print(f"drew {min(args.draw, len(ids))} images to {out}/")
    return 0
