"""Train a RetinaNet: ``python train.py [--config FILE] [key.sub=value ...]`` is ``focaldet train``
(kept at the root so ``python train.py`` and ``torchrun train.py`` work in a checkout)."""

import sys

from detector.cli.main import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
