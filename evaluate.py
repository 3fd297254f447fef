"""Evaluate a checkpoint or compare runs: ``python evaluate.py ...`` is ``focaldet eval ...``
(kept at the root beside train.py)."""

import sys

from detector.cli.main import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["eval", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
