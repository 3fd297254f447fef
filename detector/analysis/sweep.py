"""Grid sweeps for ablations: expand ``key=v1,v2`` overrides into cells x seeds, find what is
already done (resumable), and aggregate the runs into one table of mean +- std per cell.

Each run is an ordinary ``train.py`` run with its own folder ``<study dir>/<cell>/seed<k>/``, so a
sweep is only a list of commands; this module holds no training code.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

TABLE_KEYS = ("AP", "AP50", "AP75", "APs")


def split_values(text: str) -> list[str]:
    """'0,0.5,[1,2]' -> ['0', '0.5', '[1,2]']: commas inside brackets belong to a value."""
    values, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += ch
    values.append(current)
    return [v.strip() for v in values]


def parse_grid(overrides: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Split ``key=value`` arguments into fixed overrides and grid axes (values separated by commas)."""
    fixed, axes = [], {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"'{item}' is not key=value")
        key, value = item.split("=", 1)
        values = split_values(value)
        if len(values) > 1:
            if key in axes:
                raise ValueError(f"grid axis '{key}' given twice")
            axes[key] = values
        else:
            fixed.append(item)
    return fixed, axes


def cell_name(assignment: dict[str, str]) -> str:
    """A folder-safe name for one cell: 'loss.gamma=2,loss.alpha=0.25' -> 'gamma2_alpha0.25'."""
    if not assignment:
        return "base"
    parts = [f"{k.split('.')[-1]}{v}" for k, v in assignment.items()]
    return re.sub(r"[^A-Za-z0-9_.+-]", "", "_".join(parts)) or "cell"


@dataclass(frozen=True)
class Run:
    cell: str
    assignment: tuple[tuple[str, str], ...]  # the grid values of this cell, in axis order
    seed: int
    folder: Path

    @property
    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.assignment] + [f"train.seed={self.seed}",
                                                          f"train.output_dir={self.folder}"]

    @property
    def done(self) -> bool:
        return (self.folder / "metrics.json").is_file()

    @property
    def started(self) -> bool:
        return (self.folder / "last.pt").is_file()


def expand(study_dir: Path, axes: dict[str, list[str]], seeds: list[int]) -> list[Run]:
    """Every (cell, seed) run of the grid, cells in axis order, seeds innermost."""
    runs = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        assignment = dict(zip(axes, combo))
        name = cell_name(assignment)
        for seed in seeds:
            runs.append(Run(name, tuple(assignment.items()), seed, study_dir / name / f"seed{seed}"))
    return runs


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def mean_std_text(values: list[float], digits: int = 3) -> str:
    """Seeds' values as one table cell: ``mean ± std`` over the finite ones (an ECE without detections
    is NaN), the value alone when there is one, ``-`` when there is none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "-"
    mean, std = _mean_std(finite)
    return f"{mean:.{digits}f}" if len(finite) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def aggregate(runs: list[Run], axes: dict[str, list[str]], study_dir: Path) -> list[dict]:
    """One row per cell: the grid values, runs finished / failed, and mean/std of TABLE_KEYS."""
    rows = []
    for cell, grouped in itertools.groupby(runs, key=lambda r: r.cell):
        group = list(grouped)
        metrics = [json.loads((r.folder / "metrics.json").read_text()) for r in group if r.done]
        failed = [r for r in group if (r.folder / "FAILED").is_file()]
        row: dict[str, Any] = {k: v for k, v in group[0].assignment}
        row.update({"cell": cell, "runs": len(metrics), "failed": len(failed),
                    "folder": str(Path(group[0].folder.parent).relative_to(study_dir))})
        for key in TABLE_KEYS:
            row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([m[key] for m in metrics])
        rows.append(row)
    return rows


def write_tables(rows: list[dict], axes: dict[str, list[str]], study_dir: Path, title: str) -> tuple[Path, Path]:
    """results.csv (every number) and results.md (mean +- std, links to the cell folders)."""
    csv_path, md_path = study_dir / "results.csv", study_dir / "results.md"
    fields = list(axes) + ["cell", "runs", "failed"] + [f"{k}_{s}" for k in TABLE_KEYS for s in ("mean", "std")]
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    labels = list(axes) or ["cell"]
    head = labels + ["runs"] + list(TABLE_KEYS)
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"[{row[a]}]({row['folder']})" if i == 0 else row[a] for i, a in enumerate(labels)]
        runs = f"{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        stats = ["-" if math.isnan(row[f"{k}_mean"]) else f"{row[f'{k}_mean']:.3f} ± {row[f'{k}_std']:.3f}"
                 for k in TABLE_KEYS]
        lines.append("| " + " | ".join(str(c) for c in cells + [runs] + stats) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def threads_per_run(cpus: int, parallel: int, runs: int) -> int:
    """CPU threads for each of ``runs`` trainings run ``parallel`` at a time: the cores split between
    the runs that can be at once (one run left gets them all), at least one each."""
    return max(1, cpus // max(1, min(parallel, runs)))


def run_one(run: Run, train_command: list[str], config: str, fixed: list[str], threads: int) -> str:
    """Train one run with ``train_command`` (e.g. ``python -m detector train``) in a subprocess (its
    own threads and log); returns 'done', 'skipped' or 'failed'."""
    if run.done:
        return "skipped"
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / "FAILED").unlink(missing_ok=True)
    cmd = [*train_command, "--config", config, *fixed, *run.overrides, f"name={run.cell}"]
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


RECORDS = ("metrics.json", "config.yaml", "train_log.jsonl")  # what a finished run leaves to commit
PUBLISHED = (*RECORDS, "FAILED")  # a run's small files


def publish_run(run: Run, study_dir: Path, dest: Path) -> None:
    """One run's small files under ``dest``, at the run's place relative to ``study_dir`` (a FAILED
    mark published earlier goes once the run has finished)."""
    for name in PUBLISHED:
        target = dest / run.folder.relative_to(study_dir) / name
        if (run.folder / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run.folder / name, target)
        elif name == "FAILED":
            target.unlink(missing_ok=True)


def publish(runs: list[Run], study_dir: Path, dest: Path) -> None:
    """The study's small files under ``dest`` with the same relative layout, so table links work."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("results.md", "results.csv"):
        shutil.copy2(study_dir / name, dest / name)
    for run in runs:
        publish_run(run, study_dir, dest)


def restore(runs: list[Run], study_dir: Path, dest: Path) -> list[Run]:
    """The runs not finished here whose published copy under ``dest`` is: their small files copied
    back, so that they count as done (a fresh clone continues a study from its committed records)."""
    restored = []
    for run in runs:
        source = dest / run.folder.relative_to(study_dir)
        if run.done or not (source / "metrics.json").is_file():
            continue
        run.folder.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if (source / name).is_file():
                shutil.copy2(source / name, run.folder / name)
        (run.folder / "FAILED").unlink(missing_ok=True)
        restored.append(run)
    return restored


def log_hparams(runs: list[Run], study_dir: Path) -> None:
    with SummaryWriter(str(study_dir / "hparams")) as writer:
        for run in runs:
            if run.done:
                metrics = json.loads((run.folder / "metrics.json").read_text())
                hparams = {k: v for k, v in run.assignment} | {"seed": run.seed}
                writer.add_hparams(hparams, {f"hparam/{k}": metrics[k] for k in ("AP", "AP50", "AP75", "APs")},
                                   run_name=f"{run.cell}_seed{run.seed}")
