"""PNG figures for the imbalance instruments (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

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
    ax.plot([b["score"] for b in bins], [b["precision"] for b in bins], "o-", color="C3", label="(mean score, precision)")
    ax.set_xlabel("detection score")
    ax.set_ylabel("fraction correct (IoU >= 0.5)")
    ax.set_title(f"{title} ECE {cal['ece']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
