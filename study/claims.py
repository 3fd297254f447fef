"""The detection tables of docs/results.md's "claims" sections, from the published runs under
study/ (`bash study/run_all.sh` sections 9 to 11 make them); cells without finished runs
show "-". Uses report.py's helpers.

    python study/claims.py      # prints the Markdown tables
"""

from __future__ import annotations

import json
from pathlib import Path

from report import HERE, fmt, mean_std, runs, sigmas

# label -> (study folder, cell) per long-tailed benchmark (balanced validation); training frequencies
# of circle / square / triangle in the key
LONG_TAIL = {
    (0.90, 0.09, 0.01): {"focal (alpha 0.25)": ("lt90_850", "clsfocal"),
                         "focal, per-class alpha (inverse frequency)": ("lt90_alpha_850", "base"),
                         "equalized focal loss (EFL)": ("lt90_efl_850", "base"), "BCE": ("lt90_850", "clsbce")},
    (0.6, 0.3, 0.1): {"focal (alpha 0.25)": ("lt60_850", "clsfocal"),
                      "focal, per-class alpha (inverse frequency)": ("lt60_alpha_850", "base"),
                      "BCE": ("lt60_850", "clsbce")},
}
CLASSES = ("circle", "square", "triangle")  # training frequencies 0.90, 0.09, 0.01
# label -> (study folder, cell suffix); clean = noise 0 in the same study (same code version, logs kept)
NOISE = {"clean": ("noise_850", "_missing0"), "10% of boxes missing": ("noise_850", "_missing0.1"),
         "30% of boxes missing": ("noise_850", "_missing0.3"), "10% of labels swapped": ("swap_850", ""),
         "boxes jittered (std 0.1 x size)": ("jitter_850", "")}


def values(folder: Path, key: str, cls: str | None = None) -> list[float]:
    out = []
    for run in runs(folder):
        metrics = json.loads((run / "metrics.json").read_text())
        out.append(metrics["per_class_AP"][cls] if cls else metrics[key])
    return out


def table_long_tail(frequencies: tuple[float, ...], cells: dict[str, tuple[str, str]]) -> None:
    rare_name = CLASSES[-1]
    print("| loss (850 iterations) | seeds | AP | " + " | ".join(f"AP {c} ({f:.0%})" for c, f in zip(CLASSES, frequencies))
          + f" | {rare_name}: this minus focal / larger std |")
    print("|---|---|---|---|---|---|---|")
    focal = HERE.joinpath(*cells["focal (alpha 0.25)"])
    for label, parts in cells.items():
        folder = HERE.joinpath(*parts)
        per_class = [fmt(values(folder, "", c)) for c in CLASSES]
        rare, base = values(folder, "", rare_name), values(focal, "", rare_name)
        gap = "" if folder == focal or not rare else f"{mean_std(rare)[0] - mean_std(base)[0]:+.3f} ({sigmas(rare, base)})"
        print(f"| {label} | {len(runs(folder))} | {fmt(values(folder, 'AP'))} | " + " | ".join(per_class) + f" | {gap} |")
    alphas = [json.loads((r / "metrics.json").read_text()).get("class_alpha")
              for r in runs(HERE.joinpath(*cells["focal, per-class alpha (inverse frequency)"]))]
    if alphas:
        print(f"\nper-class alpha factors recorded in the runs: {alphas[0]}\n")


def table_noise() -> None:
    print("\n| training labels (850 iterations) | focal AP | BCE AP | focal - BCE | seeds (focal / BCE) | gap / larger std |")
    print("|---|---|---|---|---|---|")
    for label, (study, suffix) in NOISE.items():
        f, b = (values(HERE / study / f"cls{loss}{suffix}", "AP") for loss in ("focal", "bce"))
        gap = f"{mean_std(f)[0] - mean_std(b)[0]:+.3f}" if f and b else "-"
        print(f"| {label} | {fmt(f)} | {fmt(b)} | {gap} | {len(f)} / {len(b)} | {sigmas(f, b)} |")


def log_mean(folder: Path, key: str, last: float = 0.5) -> float:
    """Mean of ``key`` over the last ``last`` fraction of each run's logged steps, then over runs."""
    means = []
    for run in runs(folder):
        if not (run / "train_log.jsonl").is_file():  # runs copied in from single runs kept metrics only
            continue
        rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
        tail = rows[int(len(rows) * (1 - last)):]
        means.append(sum(r[key] for r in tail) / max(len(tail), 1))
    return sum(means) / len(means) if means else float("nan")


def table_noise_anchors() -> None:
    """What each loss makes of the corrupted labels, from the per-step anchor statistics (second half
    of training): positive anchors per image, and the negatives' share of the classification loss."""
    print("\n| training labels | positive anchors / image | negatives' share of the cls loss: focal | BCE |")
    print("|---|---|---|---|")
    for label, (study, suffix) in NOISE.items():
        focal, bce = (HERE / study / f"cls{loss}{suffix}" for loss in ("focal", "bce"))
        pos, nf, nb = (log_mean(focal, "anchors/positives_per_image"), log_mean(focal, "anchors/neg_loss_share"),
                       log_mean(bce, "anchors/neg_loss_share"))
        print(f"| {label} | {pos:.1f} | {nf:.3f} | {nb:.3f} |")


# label -> (cell suffix, where missed.json sits in a seed folder); the clean runs are measured on the
# boxes the noisy runs leave out (same data.noise.seed): for them those anchors were positives
MISSED = {"clean, on the 30% set's boxes": ("_missing0", "clean_on_missing0.3/missed.json"),
          "10% of boxes missing": ("_missing0.1", "missed.json"),
          "30% of boxes missing": ("_missing0.3", "missed.json")}


def missed_values(cell: Path, file: str, group: str, key: str) -> list[float]:
    return [json.loads((run / file).read_text())[group][key] for run in runs(cell) if (run / file).is_file()]


def table_missed() -> None:
    """What each loss did with the objects it was not shown (focaldet eval --missed, run_all.sh section 11):
    the anchors of left-out boxes on the training images, with the final weights."""
    print("\n| training labels | loss | seeds | missed anchors / image | their mean score (positives') "
          "| share >= 0.05 | share of the cls loss | of its gradient | loss per anchor / a negative's |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, (suffix, file) in MISSED.items():
        for loss in ("focal", "bce"):
            cell = HERE / "noise_850" / f"cls{loss}{suffix}"
            missed = {key: missed_values(cell, file, "missed", key) for key in
                      ("anchors_per_image", "mean_score", "detected", "loss_share", "gradient_share",
                       "loss_per_anchor_vs_negative")}
            if missed["mean_score"]:
                print(f"| {label} | {loss} | {len(missed['mean_score'])} | {fmt(missed['anchors_per_image'], 1)} "
                      f"| {fmt(missed['mean_score'])} ({fmt(missed_values(cell, file, 'positive', 'mean_score'))}) "
                      f"| {fmt(missed['detected'])} | {fmt(missed['loss_share'])} | {fmt(missed['gradient_share'])} "
                      f"| {fmt(missed['loss_per_anchor_vs_negative'], 0)} |")


if __name__ == "__main__":
    for freq, cells in LONG_TAIL.items():
        table_long_tail(freq, cells)
    table_noise()
    table_noise_anchors()
    table_missed()
