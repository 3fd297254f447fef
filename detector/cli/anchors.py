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

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--split", choices=["train", "val"], default="train")
    parser.add_argument("--max-images", type=int, default=2000, help="images measured (0 = all)")
    parser.add_argument("--draw", type=int, default=0, metavar="N", help="draw N images, uncovered boxes first")
    parser.add_argument("--output", help="folder for drawn images (default runs/<config name>/coverage)")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from detector.api.datasets import anchors
    from detector.evaluation.coverage import anchor_override, format_coverage

    cover = anchors(args.config, args.overrides, args.split, args.max_images, args.draw, args.output)
    print(format_coverage(cover.configured, f"configured anchors ({anchor_override(cover.configured_anchors)})",
                          cover.class_names))
    if cover.better:
        print(format_coverage(cover.suggested, "suggested anchors", cover.class_names))
        print(f"to use them: focaldet train --config {args.config} {cover.override}")
    else:
        print("no candidate anchors cover more boxes than the configured ones")
    if cover.drawn:
        print(f"drew {len(cover.drawn)} images to {cover.drawn[0].parent}/")
    return 0
