"""The 90:10 toy behind the popular focal-loss explanations, run properly: a 2-D two-class set with
a rare class, a two-hidden-layer MLP trained with BCE, focal and alpha-weighted variants over many
seeds, scored at the 0.5 threshold, at each model's best validation threshold, threshold-free
(PR-AUC, ROC-AUC) and for calibration (ECE, Brier).

    focaldet toy --seeds 10 --out docs/toy      # results.json, table.md, figures (detector/cli/toy.py)

The rare class (label 1) lives in three tight blobs inside the spread of the common class, so the
classes overlap and where the 0.5 threshold lands matters. Seconds per model on a CPU.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from torch import Tensor, nn

from detector.analysis.plots import plot_decision_regions, plot_focal_curve
from detector.core.device import machine
from detector.losses.functional import sigmoid_focal_loss

# name -> (alpha, gamma); "inverse" = the rare class's inverse-frequency weight from the training labels
TOY_LOSSES: dict[str, tuple[float | str, float]] = {
    "bce": (-1.0, 0.0),
    "focal": (-1.0, 2.0),
    "focal_alpha_inverse": ("inverse", 2.0),
    "bce_alpha_inverse": ("inverse", 0.0),
    "focal_alpha_0.25": (0.25, 2.0),  # the paper's detection setting, which down-weights the rare class
}
METRICS = ("accuracy", "balanced_accuracy", "recall", "precision", "f1", "pr_auc", "roc_auc",
           "best_threshold", "f1_at_best", "balanced_accuracy_at_best", "ece", "brier", "mean_score_rare")


@dataclass
class ToySetting:
    rare_fraction: float = 0.1  # 0.1 = 90:10
    blob_std: float = 0.45  # spread of the rare class's blobs: smaller = more separable
    n_train: int = 4000
    n_val: int = 4000
    n_test: int = 20000
    hidden: int = 32
    steps: int = 1000
    lr: float = 0.01


def toy_data(n: int, rare_fraction: float, rng: np.random.Generator, blob_std: float = 0.45
             ) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 2) float32, y (n,) float32): the common class from N(0, 1.5^2 I), the rare one
    (exactly round(n * rare_fraction) points) from three blobs (std ``blob_std``) at radius 1.6."""
    n_rare = max(1, round(n * rare_fraction))
    common = rng.normal(0.0, 1.5, (n - n_rare, 2))
    angles = rng.integers(0, 3, n_rare) * (2 * math.pi / 3)
    centres = 1.6 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rare = centres + rng.normal(0.0, blob_std, (n_rare, 2))
    x = np.concatenate([common, rare]).astype(np.float32)
    y = np.concatenate([np.zeros(n - n_rare), np.ones(n_rare)]).astype(np.float32)
    order = rng.permutation(n)
    return x[order], y[order]


def mlp(hidden: int) -> nn.Sequential:
    """2 -> hidden -> hidden -> 1 logit, ReLU."""
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def inverse_frequency_alpha(y: np.ndarray) -> float:
    """The rare class's weight when each class is weighted by 1 / its frequency, the two weights
    normalised to sum to 1: alpha = (1/p1) / (1/p1 + 1/p0) = p0 (0.9 at 90:10)."""
    p1 = float(y.mean())
    return (1 / p1) / (1 / p1 + 1 / (1 - p1))


def train_toy(x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, setting: ToySetting, seed: int) -> nn.Module:
    """Full-batch Adam on the mean focal loss (``alpha < 0``: no alpha; ``gamma = 0``: BCE)."""
    torch.manual_seed(seed)
    model = mlp(setting.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=setting.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(setting.steps):
        loss = sigmoid_focal_loss(model(xt)[:, 0], yt, alpha, gamma, reduction="mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def scores(model: nn.Module, x: np.ndarray | Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(x))[:, 0]).numpy()


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width score bins of |mean score - fraction positive| weighted by bin size."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[index == b].mean() - y[index == b].mean()) * (index == b).mean()
                     for b in range(bins) if (index == b).any()))


def threshold_metrics(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, balanced accuracy, and the rare class's recall, precision (0 with no positive
    prediction) and F1 at ``threshold``."""
    pred = p >= threshold
    tp, fp = float((pred & (y == 1)).sum()), float((pred & (y == 0)).sum())
    fn, tn = float((~pred & (y == 1)).sum()), float((~pred & (y == 0)).sum())
    recall = tp / max(tp + fn, 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    return {"accuracy": (tp + tn) / len(y), "balanced_accuracy": (recall + tn / max(tn + fp, 1)) / 2,
            "recall": recall, "precision": precision,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The threshold maximising the rare class's F1 (searched over the scores themselves)."""
    candidates = np.unique(np.quantile(p, np.linspace(0, 1, 401)))
    return float(max(candidates, key=lambda t: threshold_metrics(p, y, t)["f1"]))


def evaluate_toy(model: nn.Module, val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
                 ) -> dict[str, float]:
    """Every metric of ``METRICS`` on ``test``; the best threshold is chosen on ``val``."""
    p, y = scores(model, test[0]), test[1]
    threshold = best_threshold(scores(model, val[0]), val[1])
    at_best = threshold_metrics(p, y, threshold)
    return {**threshold_metrics(p, y, 0.5), "pr_auc": float(average_precision_score(y, p)),
            "roc_auc": float(roc_auc_score(y, p)), "best_threshold": threshold, "f1_at_best": at_best["f1"],
            "balanced_accuracy_at_best": at_best["balanced_accuracy"], "ece": expected_calibration_error(p, y),
            "brier": float(brier_score_loss(y, p)), "mean_score_rare": float(p[y == 1].mean())}


def run_seed(setting: ToySetting, seed: int, losses: list[str]) -> tuple[list[dict[str, Any]], dict[str, nn.Module]]:
    """One seed: one data draw (train/val/test) shared by every loss; (result rows, models)."""
    rng = np.random.default_rng([seed, round(setting.rare_fraction * 1e6)])
    train, val, test = (toy_data(n, setting.rare_fraction, rng, setting.blob_std)
                        for n in (setting.n_train, setting.n_val, setting.n_test))
    rows, models = [], {}
    for name in losses:
        alpha, gamma = TOY_LOSSES[name]
        alpha = inverse_frequency_alpha(train[1]) if alpha == "inverse" else float(alpha)
        models[name] = train_toy(*train, alpha, gamma, setting, seed)
        rows.append({"rare_fraction": setting.rare_fraction, "loss": name, "alpha": alpha, "gamma": gamma,
                     "seed": seed, **evaluate_toy(models[name], val, test)})
    return rows, models


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of every metric, per (rare_fraction, loss), in first-seen order."""
    groups: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["rare_fraction"], row["loss"]), []).append(row)
    out = []
    for (fraction, loss), group in groups.items():
        entry: dict[str, Any] = {"rare_fraction": fraction, "loss": loss, "seeds": len(group)}
        for metric in METRICS:
            values = [g[metric] for g in group]
            entry[metric] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
        out.append(entry)
    return out


def markdown_table(summary: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    """One row per (ratio, loss), ``mean ± std`` per metric; for each metric after the loss, the gap
    to BCE at the same ratio in units of the larger of the two seed stds."""
    head = "| ratio | loss | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    bce = {s["rare_fraction"]: s for s in summary if s["loss"] == "bce"}
    for s in summary:
        cells = []
        for m in metrics:
            mean, std = s[m]
            cell = f"{mean:.3f} ± {std:.3f}"
            ref = bce.get(s["rare_fraction"])
            if ref is not None and s["loss"] != "bce":
                spread = max(std, ref[m][1], 1e-9)
                cell += f" ({(mean - ref[m][0]) / spread:+.1f}σ)"
            cells.append(cell)
        ratio = f"{round(100 * (1 - s['rare_fraction']))}:{round(100 * s['rare_fraction'])}"
        lines.append(f"| {ratio} | {s['loss']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _train_all(seeds: int, ratios: tuple[float, ...], losses: tuple[str, ...], steps: int, blob_std: float
               ) -> tuple[list[dict[str, Any]], dict[float, Any], float]:
    """(every model's row, what the figures show of seed 0 per fraction, seconds) of ``run_toy``."""
    start, rows, shown = time.perf_counter(), [], {}
    for fraction in ratios:
        setting = ToySetting(rare_fraction=fraction, steps=steps, blob_std=blob_std)
        for seed in range(seeds):
            seed_rows, models = run_seed(setting, seed, list(losses))
            rows += seed_rows
            if seed == 0:
                rng = np.random.default_rng([seed, round(fraction * 1e6), 1])
                shown[fraction] = (models, toy_data(3000, fraction, rng, blob_std), seed_rows)
    return rows, shown, time.perf_counter() - start


def run_toy(out: Path, seeds: int = 10, ratios: tuple[float, ...] = (0.1, 0.01),
            losses: tuple[str, ...] = tuple(TOY_LOSSES), steps: int = ToySetting.steps,
            blob_std: float = ToySetting.blob_std, command: str = "focaldet toy") -> str:
    """Train every loss for ``seeds`` seeds at each rare-class fraction in ``ratios`` (0.1 = 90:10);
    write ``out``/results.json, table.md, decision_regions.png and focal_curve.png; return the tables.
    ``command`` is recorded in results.json as what produced it."""
    unknown = [name for name in losses if name not in TOY_LOSSES]
    if unknown:
        raise ValueError(f"unknown toy loss {', '.join(unknown)}; known: {', '.join(TOY_LOSSES)}")
    if seeds < 1 or steps < 1:
        raise ValueError(f"the toy needs at least 1 seed and 1 step, got seeds={seeds}, steps={steps}")
    if not ratios or not all(0 < r < 1 for r in ratios):
        raise ValueError(f"rare-class fractions must lie strictly between 0 and 1 (0.1 = 90:10), got {list(ratios)}")
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 32-unit layers: threads only add synchronisation (and contend with other jobs)
    try:
        rows, shown, seconds = _train_all(seeds, ratios, losses, steps, blob_std)
    finally:
        torch.set_num_threads(threads)  # the caller's setting back (the API's and the test suite's process)
    summary = summarise(rows)
    (out / "results.json").write_text(json.dumps({"seconds": round(seconds, 1), "machine": machine(),
                                                  "command": command, "rows": rows, "summary": summary}, indent=1))
    table = markdown_table(summary, ("balanced_accuracy", "recall", "precision", "pr_auc", "roc_auc"))
    table2 = markdown_table(summary, ("best_threshold", "f1", "f1_at_best", "ece", "mean_score_rare"))
    (out / "table.md").write_text(f"{table}\n\n{table2}\n")
    plot_decision_regions(shown, out / "decision_regions.png")
    plot_focal_curve(out / "focal_curve.png")
    return f"{table}\n\n{table2}\n\n{len(rows)} models in {seconds:.0f} s; wrote {out}/"
