"""Run an ablation grid over seeds (resumable, optionally parallel) and tabulate it.

    python study.py --name focal_grid --seeds 0,1 loss.gamma=0,0.5,1,2,5 loss.alpha=0.25,0.5,0.75
    python study.py --name losses --config configs/shapes_focal.yaml --parallel 2 \\
        loss.cls=focal,bce,ohem,ghm,qfl solver.max_iters=300
    python study.py --name focal_grid --table-only       # re-tabulate what has finished

A value list (commas outside brackets) makes a grid axis; a single value is a fixed override for
every run. Each run is `python train.py --config CONFIG <overrides> train.seed=S` in
runs/<name>/<cell>/seed<S>/ with its log in train.log. Finished runs (metrics.json) are skipped,
started ones resume from last.pt, failed ones (e.g. a diverged loss) are marked FAILED and shown in
the table. Results: runs/<name>/results.md (mean +- std of AP, AP50, AP75, APs per cell, linked to
the cell folders) and results.csv; TensorBoard hparams in runs/<name>/hparams. --publish DIR
copies the tables and every run's metrics.json / config.yaml / train_log.jsonl there, to commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from detector.analysis.sweep import Run, aggregate, expand, parse_grid, write_tables


def run_one(run: Run, config: str, fixed: list[str], threads: int) -> str:
    """Train one run in a subprocess; returns 'done', 'skipped' or 'failed'."""
    if run.done:
        return "skipped"
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / "FAILED").unlink(missing_ok=True)
    cmd = [sys.executable, "train.py", "--config", config, *fixed, *run.overrides, f"name={run.cell}"]
    if run.started:
        cmd.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with (run.folder / "train.log").open("a") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if code != 0:
        (run.folder / "FAILED").write_text(f"exit code {code}; see train.log\n")
        return "failed"
    return "done"


def publish(runs: list[Run], study_dir: Path, dest: Path) -> None:
    """The study's small files under ``dest`` with the same relative layout, so table links work."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("results.md", "results.csv"):
        shutil.copy2(study_dir / name, dest / name)
    for run in runs:
        for name in ("metrics.json", "config.yaml", "train_log.jsonl", "FAILED"):
            if (run.folder / name).is_file():
                target = dest / run.folder.relative_to(study_dir) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(run.folder / name, target)


def log_hparams(runs: list[Run], study_dir: Path) -> None:
    with SummaryWriter(str(study_dir / "hparams")) as writer:
        for run in runs:
            if run.done:
                metrics = json.loads((run.folder / "metrics.json").read_text())
                hparams = {k: v for k, v in run.assignment} | {"seed": run.seed}
                writer.add_hparams(hparams, {f"hparam/{k}": metrics[k] for k in ("AP", "AP50", "AP75", "APs")},
                                   run_name=f"{run.cell}_seed{run.seed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="study folder: runs/<name>/")
    parser.add_argument("--config", default="configs/shapes_focal.yaml")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (CPU threads are split)")
    parser.add_argument("--table-only", action="store_true", help="only tabulate finished runs")
    parser.add_argument("--publish", metavar="DIR", help="copy the tables and each run's metrics.json, config.yaml "
                                                          "and train_log.jsonl to DIR (small files to commit; no checkpoints)")
    parser.add_argument("overrides", nargs="*", metavar="key=v1,v2,...")
    args = parser.parse_args(argv)
    try:
        fixed, axes = parse_grid(args.overrides)
        seeds = [int(x) for x in args.seeds.split(",")]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    study_dir = Path("runs") / args.name
    runs = expand(study_dir, axes, seeds)
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.parallel)
        todo = [r for r in runs if not r.done]
        print(f"{len(runs)} runs ({len(runs) - len(todo)} already finished), {args.parallel} at a time")
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            for run, status in zip(todo, pool.map(lambda r: run_one(r, args.config, fixed, threads), todo)):
                print(f"{status}: {run.folder}")
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


if __name__ == "__main__":
    sys.exit(main())
