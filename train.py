"""Train a RetinaNet.

    python train.py                                   # built-in synthetic shapes benchmark, CPU
    python train.py --config configs/shapes_bce.yaml  # same, plain BCE classification loss
    python train.py --config FILE key.sub=value ...   # dotted, type-checked overrides
    python train.py --config FILE --resume            # continue from <run dir>/last.pt
    python train.py --config FILE --init-from CKPT    # finetune: load what fits (other class count ok)
    torchrun --nproc_per_node=2 train.py --config FILE  # DistributedDataParallel; train.batch_size is global
"""

from __future__ import annotations

import argparse
import sys

from detector.core.config import ConfigError, load_config
from detector.core.checkpoint import CheckpointError
from detector.core.distributed import init_distributed, shutdown
from detector.core.signals import TrainingInterrupted
from detector.engine.setup import build_trainer, run_dir_of
from detector.engine.trainer import NonFiniteLossError

DEFAULT_CONFIG = "configs/shapes_focal.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default {DEFAULT_CONFIG})")
    parser.add_argument("--resume", action="store_true", help="continue from <run dir>/last.pt")
    parser.add_argument("--init-from", metavar="WEIGHTS",
                        help="start from a checkpoint or a torchvision RetinaNet state_dict "
                             "(same as model.init_from=WEIGHTS); layers that do not fit are re-initialised")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)
    info = init_distributed()  # a no-op unless started by torchrun with WORLD_SIZE > 1
    try:
        overrides = args.overrides + ([f"model.init_from={args.init_from}"] if args.init_from else [])
        cfg = load_config(args.config, overrides)
        trainer = build_trainer(cfg, initialise=not args.resume)
        if args.resume:
            trainer.resume(run_dir_of(cfg) / "last.pt")
        if info.main:
            print(f"run folder: {trainer.run_dir}")
        result = trainer.fit()
    except TrainingInterrupted as exc:
        print(f"stopped: {exc}")
        return 1
    except (ConfigError, CheckpointError, NonFiniteLossError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown()
    if not info.main:
        return 0
    assert result is not None  # fit() without ``until`` always ends with an evaluation
    print(result.table())
    print(f"metrics: {trainer.run_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
