"""The tables and plots of docs/results.md, from the published files under study/
(metrics.json, config.yaml, train_log.jsonl per run; `bash study/run_all.sh` makes them).

    python study/report.py   # prints the Markdown tables; writes docs/figures/gap_vs_{budget,imbalance}.png
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent
FIGURES = HERE.parent / "docs" / "figures"  # docs/ keeps the figures; this folder the records
METRICS = ("AP", "AP50", "AP75", "APs")
LOSSES = {  # label -> (study folder, cell) at the default budget, shared lr 0.002
    "focal (alpha 0.25, gamma 2)": ("budget_850", "clsfocal"), "BCE": ("budget_850", "clsbce"),
    "alpha-balanced CE (alpha 0.75)": ("balanced_850", "base"), "OHEM (BCE, 1:3)": ("ohem_850", "base"),
}
LR_STUDY = {  # label -> (folder of its lr 0.001 / 0.004 cells, cell-name prefix); lr 0.002 is LOSSES
    "focal (alpha 0.25, gamma 2)": ("lr_850", "clsfocal_"), "BCE": ("lr_850", "clsbce_"),
    "alpha-balanced CE (alpha 0.75)": ("lr_850_balanced", ""), "OHEM (BCE, 1:3)": ("lr_850", "clsohem_"),
}
BUDGETS = {150: "budget_150", 300: "losses_300", 850: "budget_850", 1500: "budget_1500"}  # iterations -> folder
SETTINGS = {  # label -> folder; all at the default 850 iterations
    "default": "budget_850", "small objects": "small_850", "dense objects": "dense_850",
    "6 classes": "classes6_850", "hard (small+dense+clutter)": "hard_850",
}


def runs(folder: Path) -> list[Path]:
    """Finished run folders (seed*/ with metrics.json) under one cell folder."""
    return sorted(p.parent for p in folder.glob("seed*/metrics.json"))


def metric(folder: Path, key: str = "AP") -> list[float]:
    return [json.loads((p / "metrics.json").read_text())[key] for p in runs(folder)]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std; std is NaN for fewer than two values."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def fmt(values: list[float], digits: int = 3) -> str:
    m, s = mean_std(values)
    if m != m:
        return "-"
    return f"{m:.{digits}f}" if s != s else f"{m:.{digits}f} ± {s:.{digits}f}"


def sigmas(a: list[float], b: list[float]) -> str:
    """|mean(a) - mean(b)| in units of the larger of the two seed stds ("-" without two seeds each)."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    if sa != sa or sb != sb:
        return "-"
    return f"{abs(ma - mb) / max(sa, sb):.1f}"


FAMILIES = {"real": "real-data", "recipes": "recipe"}  # study/<folder> -> its runs' name; every other folder: synthetic


def published_runs() -> dict[str, tuple[int, float]]:
    """Family ("synthetic", "real-data", "recipe") -> (runs with a metrics.json, hours of training they
    record in train_seconds; evaluation and start-up not counted): what docs/results.md and the
    README quote (tests/test_docs.py checks them)."""
    out: dict[str, tuple[int, float]] = {}
    for path in sorted(HERE.glob("*/**/metrics.json")):
        family = FAMILIES.get(path.relative_to(HERE).parts[0], "synthetic")
        runs, seconds = out.get(family, (0, 0.0))
        out[family] = (runs + 1, seconds + (json.loads(path.read_text()).get("train_seconds") or 0.0))
    return {family: (runs, round(seconds / 3600, 1)) for family, (runs, seconds) in out.items()}


def totals() -> None:
    counts = published_runs()
    print("published runs: " + ", ".join(f"{runs} {family} ({hours} hours of training)"
                                         for family, (runs, hours) in sorted(counts.items(), key=lambda x: x[0] != "synthetic"))
          + "; evaluation and start-up not counted\n")


def table_losses() -> None:
    focal = metric(HERE / "budget_850" / "clsfocal")
    print("| loss (lr 0.002, 850 iterations) | seeds | " + " | ".join(METRICS) + " | focal minus this (AP) | gap / larger std |")
    print("|---|---|" + "---|" * len(METRICS) + "---|---|")
    for label, (folder, cell) in LOSSES.items():
        path = HERE / folder / cell
        ap = metric(path)
        gap = "" if label.startswith("focal") else f"{mean_std(focal)[0] - mean_std(ap)[0]:+.3f}"
        dev = "" if label.startswith("focal") else sigmas(focal, ap)
        print(f"| {label} | {len(ap)} | " + " | ".join(fmt(metric(path, k)) for k in METRICS) + f" | {gap} | {dev} |")


def table_lr() -> None:
    print("\n| loss (850 iterations) | lr 0.001 | lr 0.002 | lr 0.004 |")
    print("|---|---|---|---|")
    for label, (folder, prefix) in LR_STUDY.items():
        shared = HERE.joinpath(*LOSSES[label])
        cells = {lr: HERE / folder / f"{prefix}lr{lr}" for lr in ("0.001", "0.004")}
        cols = [fmt(metric(cells["0.001"])), fmt(metric(shared)), fmt(metric(cells["0.004"]))]
        print(f"| {label} | " + " | ".join(cols) + " |")


def positive_share(folder: Path) -> float:
    """Mean share of positive (anchor, class) pairs per image over the logged training steps."""
    for run in runs(folder / "clsbce") + runs(folder / "clsfocal"):
        log = run / "train_log.jsonl"
        if log.is_file():
            rows = [json.loads(line) for line in log.read_text().splitlines()]
            classes = len(yaml.safe_load((run / "config.yaml").read_text())["data"]["synthetic"]["classes"])
            pos = statistics.fmean(r["anchors/positives_per_image"] for r in rows)
            anchors = statistics.fmean(r["anchors/positives_per_image"] + r["anchors/negatives_per_image"]
                                       + r["anchors/ignored_per_image"] for r in rows)
            return pos / (anchors * classes)
    raise FileNotFoundError(f"no train_log.jsonl under {folder}; republish the study with study.py --publish")


def gap_rows(folders: dict) -> list[tuple]:
    """(key, focal APs, BCE APs) per entry."""
    return [(key, metric(HERE / name / "clsfocal"), metric(HERE / name / "clsbce")) for key, name in folders.items()]


def plot_budget() -> None:
    rows = gap_rows(BUDGETS)
    print("\n| iterations (batch 8) | focal AP | BCE AP | focal - BCE | seeds (focal / BCE) | gap / larger std |")
    print("|---|---|---|---|---|---|")
    for iters, f, b in rows:
        print(f"| {iters} | {fmt(f)} | {fmt(b)} | {mean_std(f)[0] - mean_std(b)[0]:+.3f} | {len(f)} / {len(b)} "
              f"| {sigmas(f, b)} |")
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    x = [r[0] for r in rows]
    for i, (label, marker) in enumerate((("focal (alpha 0.25, gamma 2)", "o-"), ("BCE", "s-"))):
        stats = [mean_std(r[1 + i]) for r in rows]
        ax[0].errorbar(x, [m for m, _ in stats], yerr=[0 if s != s else s for _, s in stats], fmt=marker,
                       capsize=3, label=label)
    ax[0].set_ylabel("COCO AP (bars: std over seeds)")
    ax[1].plot(x, [mean_std(f)[0] - mean_std(b)[0] for _, f, b in rows], "o-", color="C3")
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set_ylabel("focal - BCE AP")
    for a in ax:
        a.set_xlabel("training iterations (batch 8, lr 0.002 AdamW, cosine)")
        a.grid(alpha=0.3)
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(FIGURES / "gap_vs_budget.png", dpi=100)


def plot_imbalance() -> None:
    rows = gap_rows(SETTINGS)
    print("\n| setting (850 iterations) | positive (anchor, class) share | focal AP | BCE AP | focal - BCE "
          "| seeds (focal / BCE) | gap / larger std |")
    print("|---|---|---|---|---|---|---|")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, (label, f, b) in enumerate(rows):
        share = positive_share(HERE / SETTINGS[label])
        gap = mean_std(f)[0] - mean_std(b)[0]
        print(f"| {label} | {share:.5f} | {fmt(f)} | {fmt(b)} | {gap:+.3f} | {len(f)} / {len(b)} | {sigmas(f, b)} |")
        err = (mean_std(f)[1] ** 2 / len(f) + mean_std(b)[1] ** 2 / len(b)) ** 0.5 if min(len(f), len(b)) > 1 else None
        ax.errorbar([share], [gap], yerr=err, fmt="o", capsize=3, color=f"C{i}",
                    label=f"{label} ({len(f)}/{len(b)} seeds)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("positive share of (anchor, class) pairs (log; smaller = more imbalanced)")
    ax.set_ylabel("focal - BCE AP (bars: std error)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(FIGURES / "gap_vs_imbalance.png", dpi=100)


if __name__ == "__main__":
    totals()
    table_losses()
    table_lr()
    plot_budget()
    plot_imbalance()
