"""``focaldet``: one command line with a subcommand per job (``python -m detector`` is the same).

Only the chosen subcommand's module is imported, so an optional extra that is not installed (onnx for
``export``, scikit-learn for ``toy``) matters only to the subcommand that needs it."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from detector.cli.common import guarded

PROG = "focaldet"
# subcommand -> (module of detector.cli with add_arguments(parser) and run(args) -> int, one-line help, aliases)
COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "train": ("train", "train a detector from a config (default: the synthetic benchmark)", ()),
    "eval": ("evaluate", "COCO / VOC metrics of a checkpoint, weights file or results file; compare runs",
             ("evaluate",)),
    "detect": ("detect", "detections on new images: JSON and drawn pictures", ("predict",)),
    "scan": ("scan", "check a dataset (report, ground-truth pictures), export it to COCO JSON", ()),
    "anchors": ("anchors", "how many boxes the anchors cover; better anchors searched and measured", ()),
    "export": ("export", "ONNX or torch.export program of a checkpoint, checked against PyTorch", ()),
    "study": ("study", "a grid of training runs over seeds (resumable), tabulated as mean +- std", ()),
    "toy": ("toy", "the 90:10 toy: BCE vs focal vs alpha weighting on a 2-D rare class, many seeds", ()),
}


def package_version() -> str:
    try:
        return version(PROG)
    except PackageNotFoundError:  # a source checkout that was never installed
        return "(not installed)"


def chosen(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (its first word that is not an option), resolving aliases."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return next((name for name, (_, _, aliases) in COMMANDS.items() if word == name or word in aliases), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the subcommand ``argv`` names (all of them when ``argv`` is None) gets its arguments."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="RetinaNet with focal loss: train, evaluate, detect, and study anchor imbalance.",
        epilog=f"'{PROG} <subcommand> --help' shows each one's options and examples; docs/cli.md has them all.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="<subcommand>", required=True)
    wanted = chosen(argv) if argv is not None else None
    for name, (module_name, help, aliases) in COMMANDS.items():
        sub = subparsers.add_parser(name, aliases=list(aliases), help=help,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if argv is None or name == wanted:
            module = importlib.import_module(f"detector.cli.{module_name}")
            sub.description = module.__doc__
            module.add_arguments(sub)
            sub.set_defaults(run=module.run, parser=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script: parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, map its errors."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    # overrides may come after options too (`train --resume solver.lr=0.1 --init-from X model.x=1`)
    if extra and (not isinstance(getattr(args, "overrides", None), list)
                  or any(a.startswith("-") or "=" not in a for a in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = [*getattr(args, "overrides", []), *extra]
    args.argv = argv
    return guarded(args.run, args)
