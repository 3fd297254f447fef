"""PNG figures for the imbalance instruments (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch

from detector.losses.functional import sigmoid_focal_loss

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss_distribution(dist: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Cumulative normalised loss of positives and negatives per gamma (the paper's Figure 4)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("pos", "neg")):
        for gamma, d in dist["gamma"].items():
            x, y = d[f"{kind}_curve"]
            ax.plot(x, y, label=f"gamma = {gamma}")
        n = dist["num_positive" if kind == "pos" else "num_negative"]
        ax.set_title(f"{'positive' if kind == 'pos' else 'negative'} samples ({n})")
        ax.set_xlabel("fraction of samples (sorted by loss)")
        ax.set_ylabel("cumulative normalised loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(cal: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Precision against mean score per score bin; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    bins = cal["bins"]
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.bar([(b["lo"] + b["hi"]) / 2 for b in bins], [b["precision"] for b in bins],
           width=[b["hi"] - b["lo"] for b in bins], alpha=0.6, edgecolor="k", label="precision in bin")
    ax.plot([b["score"] for b in bins], [b["precision"] for b in bins], "o-", color="C3",
            label="(mean score, precision)")
    ax.set_xlabel("detection score")
    ax.set_ylabel("fraction correct (IoU >= 0.5)")
    ax.set_title(f"{title} ECE {cal['ece']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_focal_curve(path: str | Path, gammas: tuple[float, ...] = (0, 0.5, 1, 2, 5)) -> None:
    """FL(p_t) = -(1 - p_t)^gamma log(p_t) against p_t for several gamma (gamma 0 is cross-entropy):
    the paper's Figure 1, computed with the project's own loss (``losses.functional``)."""
    p = torch.linspace(0.001, 0.999, 500)
    logits = torch.log(p / (1 - p))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for gamma in gammas:
        loss = sigmoid_focal_loss(logits, torch.ones_like(p), alpha=-1.0, gamma=gamma)
        ax.plot(p, loss, label=f"gamma = {gamma}" + (" (CE)" if gamma == 0 else ""))
    ax.axvspan(0.6, 1.0, color="0.9", zorder=0)
    ax.text(0.8, 4.2, "well-classified\nexamples", ha="center", fontsize=8)
    ax.set_xlabel("probability of the ground-truth class, p_t")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.set_title("FL(p_t) = -(1 - p_t)^gamma log(p_t)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_decision_regions(shown: dict[float, Any], path: str | Path) -> None:
    """Rows: rare-class fractions; columns: losses. Each panel: the model's score over the plane,
    the 0.5 contour (solid), the best validation threshold's contour (dashed), and test points.
    ``shown``: fraction -> (models by loss, (x, y) points, result rows of that seed)."""
    fractions = list(shown)
    names = list(shown[fractions[0]][0])
    fig, axes = plt.subplots(len(fractions), len(names), figsize=(3.2 * len(names), 3.3 * len(fractions)),
                             squeeze=False)
    grid = np.linspace(-5, 5, 200, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    plane = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    for row, fraction in enumerate(fractions):
        models, (x, y), results = shown[fraction]
        by_loss = {r["loss"]: r for r in results}
        for col, name in enumerate(names):
            ax = axes[row][col]
            with torch.no_grad():
                score = torch.sigmoid(models[name](plane)[:, 0]).numpy().reshape(gx.shape)
            ax.contourf(gx, gy, score, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
            ax.contour(gx, gy, score, levels=[0.5], colors="k", linewidths=1.5)
            best = by_loss[name]["best_threshold"]
            ax.contour(gx, gy, score, levels=[best], colors="k", linewidths=1, linestyles="--")
            ax.scatter(*x[y == 0].T, s=2, c="tab:blue", alpha=0.3)
            ax.scatter(*x[y == 1].T, s=4, c="tab:red", alpha=0.8)
            r = by_loss[name]
            ax.set_title(f"{name}\nrecall@0.5 {r['recall']:.2f}  PR-AUC {r['pr_auc']:.2f}", fontsize=8)
            ax.set_xlim(-5, 5)
            ax.set_ylim(-5, 5)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"{round(100 * (1 - fraction))}:{round(100 * fraction)}")
    fig.suptitle("solid: 0.5 threshold; dashed: best F1 threshold on validation (seed 0)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
