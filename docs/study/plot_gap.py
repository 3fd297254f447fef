"""Focal-minus-BCE AP against the training budget, from the published metrics under docs/study/.

    python docs/study/plot_gap.py      # -> docs/study/gap_vs_budget.png and a printed table
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
BUDGETS = {150: "budget_150", 300: "losses_300", 850: "budget_850"}  # iterations of batch 8 -> folder


def aps(folder: Path, loss: str) -> list[float]:
    return [json.loads(p.read_text())["AP"] for p in sorted((folder / f"cls{loss}").glob("seed*/metrics.json"))]


def main() -> None:
    rows = []
    for iters, name in BUDGETS.items():
        focal, bce = aps(HERE / name, "focal"), aps(HERE / name, "bce")
        rows.append((iters, statistics.fmean(focal), statistics.fmean(bce), len(focal), len(bce)))
    print("iterations  focal AP  BCE AP  gap  (seeds focal / BCE)")
    for iters, f, b, nf, nb in rows:
        print(f"{iters:10d}  {f:8.3f}  {b:6.3f}  {f - b:+.3f}  ({nf} / {nb})")
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    x = [r[0] for r in rows]
    ax[0].plot(x, [r[1] for r in rows], "o-", label="focal (alpha 0.25, gamma 2)")
    ax[0].plot(x, [r[2] for r in rows], "s-", label="BCE")
    ax[0].set_ylabel("COCO AP")
    ax[1].plot(x, [r[1] - r[2] for r in rows], "o-", color="C3")
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set_ylabel("focal - BCE AP")
    for a in ax:
        a.set_xlabel("training iterations (batch 8, lr 0.002 AdamW, cosine)")
        a.grid(alpha=0.3)
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(HERE / "gap_vs_budget.png", dpi=100)


if __name__ == "__main__":
    main()
