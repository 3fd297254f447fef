"""Train a RetinaNet (the synthetic benchmark by default, on the CPU in minutes).

    focaldet train                                     # built-in synthetic shapes benchmark
    focaldet train --config shapes_bce                 # a shipped config, by name: plain BCE
    focaldet train --config my.yaml key.sub=value ...  # your config, with type-checked overrides
    focaldet train --config my.yaml --resume           # continue from <run dir>/last.pt
    focaldet train --config my.yaml --init-from CKPT   # finetune: load what fits (other class count ok)
    torchrun --nproc_per_node=2 -m detector train --config my.yaml   # DDP; train.batch_size is global
"""

from __future__ import annotations

import argparse

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <run dir>/last.pt")
    parser.add_argument("--init-from", metavar="WEIGHTS",
                        help="start from a checkpoint or a torchvision RetinaNet state_dict "
                             "(same as model.init_from=WEIGHTS); layers that do not fit are re-initialised")
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from detector.api.runs import train
    from detector.engine.budget import process_started

    outcome = train(args.config, args.overrides, resume=args.resume, init_from=args.init_from,
                    started=process_started())  # solver.time_budget: the whole command fits
    if outcome is not None:  # rank 0
        print(outcome.result.table())
        print(f"metrics: {outcome.run_dir / 'metrics.json'}")
    return 0
