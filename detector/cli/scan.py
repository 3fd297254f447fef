"""Check a dataset before training: every split read, every image decoded, every box judged.

    focaldet scan --config raccoon                            # summary; report + picture in runs/<name>/scan
    focaldet scan --config my.yaml --output scan_out --grid 25  # 25 images in the ground-truth grid
    focaldet scan --config my.yaml --to-coco coco_out/        # also write each split as COCO JSON
    focaldet scan --config my.yaml data.on_bad_image=error    # any config override

Writes <output>/data_report.txt (summary, then one line per problem: split, severity, kind, file,
detail), data_report.json, and gt_grid_<split>.png (training images with their boxes in class
colours). Exits 1 when a problem would stop training (see data/README.md), else 0. The same scan
runs at the start of every training run (cached: unchanged images are not decoded again).
"""

from __future__ import annotations

import argparse

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--output", help="folder for the report and pictures (default: runs/<name>/scan)")
    parser.add_argument("--grid", type=int, default=16, metavar="N", help="images in the ground-truth grid (0: none)")
    parser.add_argument("--tile", type=int, default=384, metavar="PX", help="size of each image in the grid")
    parser.add_argument("--to-coco", metavar="DIR", help="also write <DIR>/<split>.json in COCO format")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from detector.api.datasets import scan
    from detector.data.problems import DataError

    checked = scan(args.config, args.overrides, args.output, args.grid, args.tile, args.to_coco)
    print(checked.report.summary())
    print(f"every problem: {checked.output / 'data_report.txt'}")
    for picture in checked.grids.values():
        print(f"ground truth drawn: {picture}")
    for split, file in checked.coco.items():
        print(f"COCO JSON: {file} (data.{split}_images={checked.image_folders[split]})")
    if checked.stop:  # what training would stop on: exit 1 (cli/common.py)
        raise DataError(checked.stop)
    return 0
