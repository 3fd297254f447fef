"""The 90:10 toy behind the popular focal-loss explanations (``detector/analysis/toy.py``): an MLP on
a 2-D set with a rare class, trained with BCE, focal and alpha-weighted variants over many seeds.

    focaldet toy --seeds 10 --out docs/toy                         # results.json, table.md, figures
    focaldet toy --seeds 10 --ratios 0.1 --blob-std 0.12 --out docs/toy/separable

Needs the ``study`` extra (scikit-learn's metrics): pip install "focaldet[study]".
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from detector.core.errors import require_extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--ratios", default="0.1,0.01", help="rare-class fractions (0.1 = 90:10)")
    parser.add_argument("--losses", default="", help="comma-separated (default: all of the toy's losses)")
    parser.add_argument("--steps", type=int, help="training steps per model (default: ToySetting's)")
    parser.add_argument("--blob-std", type=float, help="rare blobs' spread (default: ToySetting's)")
    parser.add_argument("--out", default="runs/toy")


def run(args: argparse.Namespace) -> int:
    toy = require_extra("detector.analysis.toy", "study")
    ratios = tuple(float(r) for r in args.ratios.split(","))
    losses = tuple(args.losses.split(",")) if args.losses else tuple(toy.TOY_LOSSES)
    setting = {k: v for k, v in (("steps", args.steps), ("blob_std", args.blob_std)) if v is not None}
    command = "focaldet " + " ".join(shlex.quote(a) for a in args.argv)
    print(toy.run_toy(Path(args.out), args.seeds, ratios, losses, command=command, **setting))
    return 0
