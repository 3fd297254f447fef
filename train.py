"""Train a RetinaNet.

    python train.py                                   # built-in synthetic shapes benchmark, CPU
    python train.py --config configs/shapes_bce.yaml  # same, plain BCE classification loss
    python train.py --config FILE key.sub=value ...   # dotted, type-checked overrides
    python train.py --config FILE --resume            # continue from <run dir>/last.pt
"""

from __future__ import annotations

import argparse
import sys

from detector.config import ConfigError, load_config
from detector.engine.checkpoint import CheckpointError
from detector.engine.trainer import NonFiniteLossError, Trainer, run_dir_of
from detector.evaluation.coco_eval import format_table

DEFAULT_CONFIG = "configs/shapes_focal.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
    parser.add_argument("--resume", action="store_true", help="continue from <run dir>/last.pt")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        trainer = Trainer.build(cfg)
        if args.resume:
            trainer.resume(run_dir_of(cfg) / "last.pt")
        print(f"run folder: {trainer.run_dir}")
        result = trainer.fit()
    except (ConfigError, CheckpointError, NonFiniteLossError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result.stats, result.per_class))
    print(f"metrics: {trainer.run_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
