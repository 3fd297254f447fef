"""Run an ablation grid over seeds (resumable, optionally parallel) and tabulate it.

    focaldet study --name focal_grid --seeds 0,1 loss.gamma=0,0.5,1,2,5 loss.alpha=0.25,0.5,0.75
    focaldet study --name losses --config shapes_focal --parallel 2 \\
        loss.cls=focal,bce,ohem,ghm,qfl solver.max_iters=300
    focaldet study --name focal_grid --table-only       # re-tabulate what has finished

A value list (commas outside brackets) makes a grid axis; a single value is a fixed override for
every run. Each run is `focaldet train --config CONFIG <overrides> train.seed=S` in
runs/<name>/<cell>/seed<S>/ with its log in train.log. Finished runs (metrics.json) are skipped,
started ones resume from last.pt, failed ones (e.g. a diverged loss) are marked FAILED and shown in
the table. Results: runs/<name>/results.md (mean +- std of AP, AP50, AP75, APs per cell, linked to
the cell folders) and results.csv; TensorBoard hparams in runs/<name>/hparams. --publish DIR
copies the tables and every run's metrics.json / config.yaml / train_log.jsonl there, to commit,
each run as soon as it finishes; a run already published there is restored, not trained again, so a
study cut short continues from its committed records in a fresh clone.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from detector.cli.common import add_config, add_overrides

TRAIN_COMMAND = [sys.executable, "-m", "detector", "train"]  # each run in its own process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="study folder: runs/<name>/")
    add_config(parser)
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (CPU threads are split)")
    parser.add_argument("--table-only", action="store_true", help="only tabulate finished runs")
    parser.add_argument("--publish", metavar="DIR",
                        help="copy the tables and each run's metrics.json, config.yaml and train_log.jsonl to DIR "
                             "(small files to commit; no checkpoints), each run as it finishes; runs published "
                             "there earlier count as finished")
    add_overrides(parser, "key=v1,v2,... (a grid axis) or key=value (fixed)")


def run(args: argparse.Namespace) -> int:
    from detector.analysis.sweep import (
        Run,
        aggregate,
        expand,
        log_hparams,
        parse_grid,
        publish,
        publish_run,
        restore,
        run_one,
        threads_per_run,
        write_tables,
    )

    fixed, axes = parse_grid(args.overrides)
    try:
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError:
        raise ValueError(f"--seeds '{args.seeds}' is not a comma-separated list of integers") from None
    study_dir = Path("runs") / args.name
    runs = expand(study_dir, axes, seeds)
    dest = Path(args.publish) if args.publish else None
    if dest is not None and (restored := restore(runs, study_dir, dest)):
        print(f"{len(restored)} runs finished earlier, restored from {dest}/ (not trained again)")
    if not args.table_only:
        todo = [r for r in runs if not r.done]
        threads = threads_per_run(os.cpu_count() or 1, args.parallel, len(todo))
        print(f"{len(runs)} runs ({len(runs) - len(todo)} already finished), {args.parallel} at a time")

        def train(one: Run) -> str:
            status = run_one(one, TRAIN_COMMAND, args.config, fixed, threads)
            if dest is not None:  # at once: a study cut short keeps every run that finished
                publish_run(one, study_dir, dest)
            return status

        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            for one, status in zip(todo, pool.map(train, todo)):
                print(f"{status}: {one.folder}")
    study_dir.mkdir(parents=True, exist_ok=True)
    rows = aggregate(runs, axes, study_dir)
    csv_path, md_path = write_tables(rows, axes, study_dir, f"{args.name}: {' x '.join(axes) or 'base'}, "
                                     f"seeds {seeds}, fixed {fixed or 'none'}")
    log_hparams(runs, study_dir)
    print(md_path.read_text())
    print(f"wrote {md_path} and {csv_path}")
    if args.publish:
        publish(runs, study_dir, Path(args.publish))
        print(f"published the tables and run metrics to {args.publish}/")
    return 0
