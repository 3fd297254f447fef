"""The real-data tables of docs/results.md from study/real/: python study/real/report.py

One table per dataset and training length (study/real/<bccd|raccoon>_<iterations>*/): per loss, over
the seeds that finished, mean +- std of COCO AP / AP50 / AP75 on BCCD's val split (raccoon's test
split: it has no val; each run's metrics.json), BCCD's per-class AP (RBC is 11x as frequent as WBC and
Platelets), AP on the test split and the test split's expected
calibration error (test_metrics.json, test_imbalance.json). Then each loss's AP minus focal loss's on the
same seeds (mean +- std of the paired differences), per class too; and the imbalance the runs trained
under, from their logs: positive anchors per image, the foreground:background ratio and the negatives'
share of the classification loss (averaged over each run's logged steps, then over the runs); and the
paper's Figure 4 on the test split: the loss share of the hardest negatives and positives under gamma 0
and 2 applied to each model's predictions, with its detections' count and ECE. First, one table of focal
minus BCE at every training length run (the synthetic study's section 3, on real data).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from detector.analysis.sweep import mean_std_text as mean_std

HERE = Path(__file__).resolve().parent
CLASSES = ("RBC", "WBC", "Platelets")  # the common class first
# (study folder suffix, cell folder) -> how the row is named; in the table's order
ROWS = {
    ("", "clsfocal"): "focal (alpha 0.25, gamma 2)",
    ("", "clsbce"): "BCE",
    ("_balanced", "base"): "alpha-balanced CE (alpha 0.75)",
    ("", "clsohem"): "OHEM (3 negatives : 1)",
    ("", "clsqfl"): "QFL",
    ("", "clsefl"): "EFL",
    ("_alpha", "base"): "focal, per-class inverse-frequency alpha",
}
LOG_KEYS = ("anchors/positives_per_image", "anchors/fg_bg_ratio", "anchors/neg_loss_share")


def read_runs(folder: Path) -> dict[int, dict]:
    """seed -> what the run's records hold: val metrics, test metrics and ECE when scored, log means."""
    runs = {}
    for seed_dir in sorted(folder.glob("seed*")):
        if not (seed_dir / "metrics.json").is_file():
            continue
        run = {"val": json.loads((seed_dir / "metrics.json").read_text())}
        if (seed_dir / "test_metrics.json").is_file():
            run["test"] = json.loads((seed_dir / "test_metrics.json").read_text())
            run["imbalance"] = json.loads((seed_dir / "test_imbalance.json").read_text())
            run["ece"] = run["imbalance"]["calibration"]["ece"]
        if (seed_dir / "train_log.jsonl").is_file():
            lines = [json.loads(x) for x in (seed_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]
            run["log"] = {
                k: statistics.mean(x[k] for x in lines if k in x) for k in LOG_KEYS if any(k in x for x in lines)
            }
        runs[int(seed_dir.name.removeprefix("seed"))] = run
    return runs


def ap(run: dict, split: str = "val", cls: str | None = None) -> float:
    metrics = run[split]
    return metrics["per_class_AP"][cls] if cls else metrics["AP"]


def table_head(caption: str, head: list[str]) -> list[str]:
    """A blank line, the caption, a blank line, then a Markdown table's header row and separator."""
    return ["", caption, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def read_cells(data: str, budget: int) -> dict[str, dict[int, dict]]:
    """Row name -> seed -> run, for the losses run on this dataset at this training length (ROWS' order)."""
    cells = {name: read_runs(HERE / f"{data}_{budget}{suffix}" / cell) for (suffix, cell), name in ROWS.items()}
    return {name: runs for name, runs in cells.items() if runs}


def budget_table(data: str, budget: int) -> list[str]:
    cells = read_cells(data, budget)
    focal = cells[ROWS[("", "clsfocal")]]
    classes = CLASSES if data == "bccd" else ()  # raccoon has one class: its AP is the AP
    head = ["loss", "seeds", "AP", "AP50", "AP75", *(f"{c} AP" for c in classes), "test AP", "test ECE"]
    title = f"### {'BCCD' if data == 'bccd' else data}, {budget} iterations (batch 8)"
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, runs in cells.items():
        rs = list(runs.values())
        tested = [r for r in rs if "test" in r]
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    ",".join(map(str, runs)) or "-",
                    mean_std([ap(r) for r in rs]),
                    mean_std([r["val"]["AP50"] for r in rs]),
                    mean_std([r["val"]["AP75"] for r in rs]),
                    *(mean_std([ap(r, cls=c) for r in rs]) for c in classes),
                    mean_std([ap(r, "test") for r in tested]),
                    mean_std([r["ece"] for r in tested]),
                ]
            )
            + " |"
        )
    head = ["loss", "seeds paired", "AP", *(f"{c} AP" for c in classes), "test AP", *(f"test {c}" for c in classes)]
    lines += table_head("AP minus focal loss's, seed by seed (mean ± std of the paired differences):", head)
    for name, runs in cells.items():
        seeds = sorted(set(runs) & set(focal))
        if runs is focal or not seeds:
            continue
        tested = [s for s in seeds if "test" in runs[s] and "test" in focal[s]]
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    ",".join(map(str, seeds)),
                    mean_std([ap(runs[s]) - ap(focal[s]) for s in seeds]),
                    *(mean_std([ap(runs[s], cls=c) - ap(focal[s], cls=c) for s in seeds]) for c in classes),
                    mean_std([ap(runs[s], "test") - ap(focal[s], "test") for s in tested]),
                    *(mean_std([ap(runs[s], "test", c) - ap(focal[s], "test", c) for s in tested]) for c in classes),
                ]
            )
            + " |"
        )
    head = ["loss", "positive anchors / image", "foreground : background", "negatives' share of the loss"]
    caption = "The imbalance each loss trained under (means over each run's logged steps, then over seeds):"
    lines += table_head(caption, head)
    for name, runs in cells.items():
        logs = [r["log"] for r in runs.values() if "log" in r]
        if logs:
            ratio = statistics.mean(x["anchors/fg_bg_ratio"] for x in logs)
            lines.append(
                f"| {name} | {mean_std([x['anchors/positives_per_image'] for x in logs], 1)} | "
                f"1 : {1 / ratio:.0f} | {mean_std([x['anchors/neg_loss_share'] for x in logs], 2)} |"
            )
    return lines + figure4_table(cells)


def figure4_table(cells: dict[str, dict[int, dict]]) -> list[str]:
    """Where each loss's trained model puts the loss on the test split (the paper's Figure 4, each gamma
    applied to the same predictions) and how many detections it keeps, over the seeds scored on test."""
    head = [
        "loss",
        "seeds",
        "gamma",
        "negatives: loss share of the hardest 1%",
        "hardest 10%",
        "positives: hardest 10%",
        "negatives' share of all loss",
        "test detections",
        "test ECE",
    ]
    lines = table_head(
        "Where the loss sits on the test split (each gamma applied to the same predictions) and the "
        "calibration of the detections:",
        head,
    )
    for name, runs in cells.items():
        tested = {seed: r["imbalance"] for seed, r in runs.items() if "imbalance" in r}
        for gamma in ("0.0", "2.0"):
            at = [t["loss_distribution"]["gamma"][gamma] for t in tested.values()]
            if not at:
                continue
            lines.append(
                "| "
                + " | ".join(
                    [
                        name,
                        ",".join(map(str, tested)),
                        gamma,
                        *(
                            mean_std([a[k] for a in at])
                            for k in (
                                "neg_hardest_1pct",
                                "neg_hardest_10pct",
                                "pos_hardest_10pct",
                                "neg_share_of_total",
                            )
                        ),
                        mean_std([float(t["calibration"]["num_detections"]) for t in tested.values()], 0),
                        mean_std([t["calibration"]["ece"] for t in tested.values()]),
                    ]
                )
                + " |"
            )
    return lines


def differences(first: dict[int, dict], second: dict[int, dict], seeds: list[int], key: str) -> list[float]:
    """first minus second in one val metric, seed by seed."""
    return [first[s]["val"][key] - second[s]["val"][key] for s in seeds]


def gap_table(studies: list[tuple[str, int]]) -> list[str]:
    """Focal minus BCE against the training length: the means, the paired difference, and how many of the
    larger seed std it is; AP50 and AP75 differences too."""
    head = [
        "data",
        "iterations (batch 8)",
        "focal AP",
        "BCE AP",
        "focal - BCE (paired)",
        "gap / larger std",
        "AP50: focal - BCE",
        "AP75: focal - BCE",
        "Platelets: focal - BCE",
        "seeds",
    ]
    lines = [
        "### Focal minus BCE against the training length",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for data, budget in studies:
        cells = read_cells(data, budget)
        focal, bce = cells.get(ROWS[("", "clsfocal")], {}), cells.get(ROWS[("", "clsbce")], {})
        seeds = sorted(set(focal) & set(bce))
        if not seeds:
            continue
        gaps = differences(focal, bce, seeds, "AP")
        spread = max(statistics.stdev([ap(r[s]) for s in seeds]) if len(seeds) > 1 else 0.0 for r in (focal, bce))
        ratio = f"{statistics.mean(gaps) / spread:.1f}" if spread > 0 else "-"
        lines.append(
            "| "
            + " | ".join(
                [
                    data,
                    str(budget),
                    mean_std([ap(focal[s]) for s in seeds]),
                    mean_std([ap(bce[s]) for s in seeds]),
                    mean_std(gaps) + " (" + ", ".join(f"{g:+.3f}" for g in gaps) + ")",
                    ratio,
                    mean_std(differences(focal, bce, seeds, "AP50")),
                    mean_std(differences(focal, bce, seeds, "AP75")),
                    mean_std([ap(focal[s], cls="Platelets") - ap(bce[s], cls="Platelets") for s in seeds])
                    if data == "bccd"
                    else "-",
                    ",".join(map(str, seeds)),
                ]
            )
            + " |"
        )
    return lines


def main() -> None:
    found = (re.fullmatch(r"(bccd|raccoon)_(\d+)", p.name) for p in HERE.iterdir())
    studies = sorted({(m.group(1), int(m.group(2))) for m in found if m})
    print("\n".join(gap_table(studies)) + "\n")
    for data, budget in studies:
        print("\n".join(budget_table(data, budget)) + "\n")


if __name__ == "__main__":
    main()
