"""Side-by-side comparison of runs' COCO metrics, with deltas against the first run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.core.io import read_json
from detector.evaluation.coco_eval import STAT_KEYS


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Metrics of a run folder (its ``metrics.json``) or of a metrics JSON file."""
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    data = read_json(file, "metrics file", " (train the run first, or give a metrics JSON)")
    missing = [k for k in STAT_KEYS if k not in data]
    if missing:
        raise ValueError(f"metrics file '{file}' lacks keys {missing}")
    return data


def compare_table(runs: list[str | Path], keys: tuple[str, ...] = STAT_KEYS) -> str:
    """One row per run; rows after the first also show the change against the first run."""
    metrics = [read_metrics(r) for r in runs]
    names = [Path(r).name if Path(r).is_dir() else str(r) for r in runs]
    width = max(len(n) for n in names + ["run"])
    extra = [k for k in ("train_seconds",) if all(k in m for m in metrics)]
    lines = [f"{'run':<{width}} " + " ".join(f"{k:>14}" for k in keys + tuple(extra))]
    base = metrics[0]
    for i, (name, m) in enumerate(zip(names, metrics)):
        cells = []
        for k in keys + tuple(extra):
            cell = f"{m[k]:.3f}" if k in keys else f"{m[k]:.0f}"
            if i > 0:
                delta = m[k] - base[k]
                cell += f" ({delta:+.3f})" if k in keys else f" ({delta:+.0f})"
            cells.append(f"{cell:>14}")
        lines.append(f"{name:<{width}} " + " ".join(cells))
    return "\n".join(lines)
