"""The one writer of a run folder (rank 0 only; elsewhere every method is a no-op).

    config.yaml           the resolved config            train_log.jsonl   one line per log step
    data_report.txt/.json the data scan (data.problems)  nonfinite.jsonl   skipped / fatal steps
    metrics.json          the final evaluation           pr_curves.png, confusion_matrix.png
    last.pt, best.pt, step_*.pt  checkpoints, atomic     split.json        held-out split (data.split)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detector.core.checkpoint import save_checkpoint
from detector.core.config import Config, save_yaml
from detector.data.problems import DataReport
from detector.evaluation.evaluator import EvalResult


class RunFiles:
    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.folder = folder
        self.enabled = enabled

    def _ready(self) -> bool:
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
        return self.enabled

    def _append(self, name: str, record: dict[str, Any]) -> Path:
        if self._ready():
            with (self.folder / name).open("a") as f:
                f.write(json.dumps(record) + "\n")
        return self.folder / name

    def config(self, cfg: Config) -> None:
        if self._ready():
            save_yaml(cfg, self.folder / "config.yaml")

    def data_report(self, report: DataReport) -> Path | None:
        return report.write(self.folder) if self._ready() else None

    def log(self, record: dict[str, Any]) -> Path:
        return self._append("train_log.jsonl", record)

    def nonfinite(self, record: dict[str, Any]) -> Path:
        return self._append("nonfinite.jsonl", record)

    def rewind(self, step: int) -> None:
        """Drop train_log.jsonl / nonfinite.jsonl records after ``step`` (a resume from that step
        logs them again), so a resumed run's logs read as the uninterrupted run's."""
        for name in ("train_log.jsonl", "nonfinite.jsonl"):
            path = self.folder / name
            if self.enabled and path.is_file():
                lines = path.read_text().splitlines()
                kept = [line for line in lines if json.loads(line)["step"] <= step]
                if len(kept) < len(lines):
                    path.write_text("".join(line + "\n" for line in kept))

    def metrics(self, metrics: dict[str, Any]) -> None:
        if self._ready():
            (self.folder / "metrics.json").write_text(json.dumps(metrics, indent=1))

    def figures(self, result: EvalResult) -> dict[str, Any]:
        """The evaluation's figures as PNGs; returns them (for TensorBoard)."""
        return result.save_figures(self.folder) if self._ready() else {}

    def checkpoint(self, state: dict[str, Any], name: str) -> None:
        if self._ready():
            save_checkpoint(state, self.folder / name)

    def prune(self, pattern: str, keep: int) -> None:
        """Delete all but the ``keep`` newest (by sorted name) files matching ``pattern``."""
        if self.enabled:
            for old in sorted(self.folder.glob(pattern))[:-keep]:
                old.unlink()
