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
from pathlib import Path

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--output", help="folder for the report and pictures (default: runs/<name>/scan)")
    parser.add_argument("--grid", type=int, default=16, metavar="N", help="images in the ground-truth grid (0: none)")
    parser.add_argument("--tile", type=int, default=384, metavar="PX", help="size of each image in the grid")
    parser.add_argument("--to-coco", metavar="DIR", help="also write <DIR>/<split>.json in COCO format")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from torchvision.io import write_png

    from detector.core.config import load_config
    from detector.data.build import build_dataset, configured_splits, prepare_data, require_training_images
    from detector.data.coco import export_coco
    from detector.evaluation.draw import ground_truth_grid

    cfg = load_config(args.config, args.overrides)
    out = Path(args.output or Path("runs") / cfg.name / "scan")
    prepared, report = prepare_data(cfg, configured_splits(cfg.data), report_dir=out, strict=False)
    print(report.summary())
    print(f"every problem: {out / 'data_report.txt'}")
    for split, part in prepared.items():
        if args.grid > 0 and part.coco["images"]:
            grid = ground_truth_grid(build_dataset(cfg, split, prepared=part), args.grid, args.tile)
            write_png(grid, str(out / f"gt_grid_{split}.png"))
            print(f"ground truth drawn: {out / f'gt_grid_{split}.png'}")
        if args.to_coco:
            base = export_coco(part.coco, part.root, Path(args.to_coco) / f"{split}.json")
            print(f"COCO JSON: {Path(args.to_coco) / f'{split}.json'} (data.{split}_images={base})")
    report.raise_for(cfg.data.on_bad_image, out / "data_report.txt")  # a DataError: exit 1 (cli/common.py)
    require_training_images(prepared, cfg.data.filter_empty)  # what training would stop on, too
    return 0
