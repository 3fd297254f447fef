"""Train and evaluate from Python: what ``focaldet train`` and ``focaldet eval`` run.

    >>> run = train("shapes_quick", ["solver.max_iters=200"])
    >>> run.run_dir, run.metrics["AP"]
    >>> evaluation = evaluate(run.run_dir / "best.pt")
    >>> evaluation.result.stats["AP"], evaluation.result.per_class
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from detector.core.config import DEFAULT_CONFIG, Config, load_config
from detector.core.config_checks import unused_settings, written_keys
from detector.core.distributed import init_distributed, shutdown
from detector.data.coco import CocoDetection
from detector.data.formats import check_format, format_key_rules
from detector.engine.recipes import resolve_recipe
from detector.engine.setup import build_trainer, run_dir_of
from detector.evaluation.evaluator import EvalResult, evaluate_checkpoint
from detector.inference.detector import Detector
from detector.losses.criterion import classification_params


@dataclass
class TrainResult:
    run_dir: Path  # config.yaml, last.pt, best.pt, metrics.json, TensorBoard events, ...
    metrics: dict[str, Any]  # what metrics.json holds (AP, AP50, ..., per-class AP, train_seconds)
    result: EvalResult  # the final evaluation: tables, detections, figures


def train(config: str | Path | None = None, overrides: Sequence[str] = (), resume: bool = False,
          init_from: str | Path | None = None, started: float | None = None) -> TrainResult | None:
    """Train from ``config`` (a YAML file or a shipped config's name; default the synthetic
    benchmark) with ``key.sub=value`` overrides; ``recipe: auto`` (a config that names no recipe)
    is chosen here and printed (``engine.recipes``). ``resume`` continues ``<run dir>/last.pt``;
    ``init_from`` starts from a checkpoint or torchvision RetinaNet state_dict (finetuning). Under
    torchrun every process calls this; the others than rank 0 get None. ``solver.time_budget``
    counts from ``started`` (a ``time.perf_counter()`` value; default now: ``focaldet train`` passes
    its process's start, so the whole command fits)."""
    started = time.perf_counter() if started is None else started
    info = init_distributed()  # a no-op unless started by torchrun with WORLD_SIZE > 1
    try:
        config = config or DEFAULT_CONFIG
        overrides = [*overrides, *([f"model.init_from={init_from}"] if init_from else [])]
        cfg = load_config(config, overrides)
        check_settings(cfg, config, overrides, info.main)  # before the recipe's search and the data scan
        cfg, _ = resolve_recipe(cfg, config, overrides, show=info.main)
        trainer = build_trainer(cfg, initialise=not resume, started=started)
        if resume:
            trainer.resume(run_dir_of(cfg) / "last.pt")
        if info.main:
            print(f"run folder: {trainer.run_dir}")
        result = trainer.fit()
    finally:
        shutdown()
    if not info.main:
        return None
    assert result is not None  # fit() without ``until`` always ends with an evaluation
    metrics = json.loads((trainer.run_dir / "metrics.json").read_text())
    return TrainResult(trainer.run_dir, metrics, result)


def check_settings(cfg: Config, config: str | Path, overrides: Sequence[str], show: bool) -> None:
    """What the user wrote (the config file itself and the overrides) that this run will not use: a
    loss parameter of another loss is a ConfigError, anything else a printed warning (``show``)."""
    written = written_keys(config, list(overrides))
    classification_params(cfg.loss, written=written)
    check_format(cfg.data)
    for line in unused_settings(cfg, written, format_key_rules()) if show else ():
        print(f"warning: {line}")


@dataclass
class Evaluation:
    result: EvalResult  # stats (AP, AP50, ...), per_class, COCO results, VOC AP50, figures
    dataset: CocoDetection
    detector: Detector
    output: Path  # where eval_metrics.json, detections.json and the figures were written


@torch.no_grad()
def evaluate(checkpoint: str | Path, images: str | Path = "", annotations: str | Path = "",
             overrides: Sequence[str] = (), config: str | Path | None = None,
             output: str | Path | None = None) -> Evaluation:
    """COCO (and VOC AP50) metrics of ``checkpoint`` on its config's validation split, or on the
    ``images`` / ``annotations`` given (in the checkpoint's ``data.dataset`` format). With
    ``config``, ``checkpoint`` is a weights file for that config's model (e.g. torchvision's COCO
    RetinaNet), evaluated on that config's data. Writes eval_metrics.json, detections.json,
    pr_curves.png and confusion_matrix.png to ``output`` (default: the checkpoint's folder)."""
    result, dataset, det = evaluate_checkpoint(checkpoint, list(overrides), str(images), str(annotations), config)
    out = Path(output or Path(checkpoint).parent)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_metrics.json").write_text(json.dumps(result.metrics(), indent=1))
    (out / "detections.json").write_text(json.dumps(result.results))
    result.save_figures(out, keep_open=False)
    return Evaluation(result, dataset, det, out)


__all__ = ["Evaluation", "TrainResult", "evaluate", "train"]
