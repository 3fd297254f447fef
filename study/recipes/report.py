"""The tables of docs/recipes.md from study/recipes/records/: python study/recipes/report.py

One table per kind of machine (records/<machine>/: a budget buys another number of steps on another
CPU, so cells are compared within one machine only). One row per (what ran, dataset, budget): AP and
AP50 as mean +- std over the seeds that finished, per-class AP, iterations, and the whole command's
wall time against its budget. A training-quality tool's row also gives its AP minus the automatic
recipe's on the same seeds and machine (mean +- std of the paired differences), the measure that
decides whether a recipe keeps it; under each table, the recipe's AP minus torchvision's on the same
seeds; the last two tables pool the pairs over every machine, the tools' against autov1 and the
recipe's against torchvision. A machine's equal_time/ records (study/recipes/equal_time.sh) get their
own table: each tool's step cost measured beside auto's, and its paired AP difference at the iterations
the same minutes buy each.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from detector.analysis.sweep import mean_std_text as mean_std

RECORDS = Path(__file__).resolve().parent / "records"
BUDGET = {"10m": 600.0, "30m": 1800.0}
WHAT = {
    "auto": "`recipe: auto` (scratch chosen)",
    "autov1": "`recipe: auto` (scratch chosen, before it kept mosaic, multi-scale and crop)",
    "torchvision": "torchvision RetinaNet R18-FPN",
    "fallback": "ImageNet weights named, offline -> scratch",
    "ema": "auto + EMA (`train.ema_decay=0.998 train.ema_tau=200`)",
    "atss": "auto + ATSS matcher (`matcher.name=atss`)",
    "multiscale": "auto + multi-scale (`augment.scale_range=[0.75,1.25]`)",
    "crop": "auto + box-safe crop (`augment.crop_prob=0.5`)",
    "mosaic": "auto + mosaic (`augment.mosaic_prob=0.5`)",
    "combined": "auto + mosaic, multi-scale and crop together (the recipe since)",
}
BASELINES = ("auto", "autov1", "torchvision", "fallback")
# the recipe cells compared with torchvision's baseline on the same seeds
RECIPES = ("auto", "autov1", "fallback")
# The time-budget tool cells (ema_*, mosaic_*, ...) ran beside `auto` cells of the recipe before it kept
# mosaic, multi-scale and crop: those cells are named autov1_* and the tools pair with them.
PAIRED_WITH = "autov1"


def cpu_text(machine: dict) -> str:
    """One line for a record's machine (command.json's "machine"): CPU model, threads, native bf16."""
    return (
        f"{machine['cpu']} ({machine['threads']} threads, native bf16: {', '.join(machine['native_bf16']) or 'none'})"
    )


def read_cells(machine: Path) -> dict[tuple[str, str, str], list[dict]]:
    """(data, budget, what ran) -> the finished seeds' metrics, with seed, wall time and iterations."""
    cells: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for folder in sorted(machine.iterdir()):
        found = re.fullmatch(r"(\w+?)_(\w+)_(\d+m)_s(\d+)", folder.name)
        if not found or not (folder / "metrics.json").is_file():
            continue
        kind, data, budget, seed = found.groups()
        metrics = json.loads((folder / "metrics.json").read_text())
        command = json.loads((folder / "command.json").read_text())
        metrics["wall"] = command["wall_seconds"]
        metrics["iterations"] = metrics.get("step", metrics.get("iterations"))
        metrics["seed"] = int(seed)
        metrics["cpu"] = cpu_text(command["machine"])
        cells[(data, budget, kind)].append(metrics)
    return cells


def paired_ap(runs: list[dict], base: list[dict]) -> list[tuple[int, float]]:
    """(seed, AP - base's AP) for each run whose seed base also has, in seed order."""
    base_ap = {r["seed"]: r["AP"] for r in base}
    return sorted((r["seed"], r["AP"] - base_ap[r["seed"]]) for r in runs if r["seed"] in base_ap)


def table(cells: dict[tuple[str, str, str], list[dict]]) -> None:
    print(
        "| data | budget | what ran | seeds | AP | AP - autov1's, same seeds | AP50 | AP75 | per-class AP | iterations "
        "| wall, % of budget (range) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = list(WHAT)
    for (data, budget, kind), runs in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][1], order.index(kv[0][2]) if kv[0][2] in order else len(order))
    ):
        classes = runs[0].get("per_class_AP", {})
        per_class = ", ".join(f"{name} {mean_std([r['per_class_AP'][name] for r in runs], 2)}" for name in classes)
        walls = [r["wall"] for r in runs]
        share = 100 * statistics.mean(walls) / BUDGET[budget]
        base = cells.get((data, budget, PAIRED_WITH), []) if kind not in BASELINES else []
        paired = [d for _, d in paired_ap(runs, base)]
        gain = f"{mean_std(paired)} ({len(paired)})" if paired else "-"
        print(
            f"| {data} | {budget} | {WHAT.get(kind, kind)} | {len(runs)} | {mean_std([r['AP'] for r in runs])} | "
            f"{gain} | {mean_std([r['AP50'] for r in runs])} | {mean_std([r['AP75'] for r in runs])} | "
            f"{per_class if len(classes) > 1 else '-'} | {mean_std([float(r['iterations']) for r in runs], 0)} | "
            f"{statistics.mean(walls):.0f} s, {share:.0f}% ({min(walls):.0f}-{max(walls):.0f} s) |"
        )
    cpus = sorted({r["cpu"] for runs in cells.values() for r in runs})
    print(f"\nCPU: {', '.join(cpus)}")
    against_torchvision(cells)


def against_torchvision(cells: dict[tuple[str, str, str], list[dict]]) -> None:
    """One line per (recipe cell, dataset, budget) that has torchvision's baseline beside it on the same
    seeds: the paired AP differences (recipe - torchvision), their mean +- std, and each pair."""
    for (data, budget, kind), runs in sorted(cells.items()):
        pairs = paired_ap(runs, cells.get((data, budget, "torchvision"), []))
        if kind in RECIPES and pairs:
            each = ", ".join(f"s{seed} {d:+.3f}" for seed, d in pairs)
            print(f"- {kind} - torchvision, {data} {budget}, same seeds: {mean_std([d for _, d in pairs])} ({each})")


def pooled(machines: dict[str, dict[tuple[str, str, str], list[dict]]], title: str, base: str, kinds: set[str]) -> None:
    """The paired differences (kind - base) from every machine together, one row per (kind, data, budget):
    a pair is one seed's two cells on one machine, so each difference is measured within one machine,
    but the steps a budget buys differ between machines (see each machine's iterations column)."""
    pairs: dict[tuple[str, str, str], list[tuple[str, int, float]]] = defaultdict(list)
    for name, cells in machines.items():
        for (data, budget, kind), runs in cells.items():
            if kind in kinds:
                found = paired_ap(runs, cells.get((data, budget, base), []))
                pairs[(kind, data, budget)] += [(name, seed, d) for seed, d in found]
    print(f"\n### {title} over every machine: AP minus {base}'s, pair by pair\n")
    print("| what ran | data | budget | pairs | mean ± std | each pair: machine, seed, difference |")
    print("|---|---|---|---|---|---|")
    order = list(WHAT)
    for (kind, data, budget), found in sorted(pairs.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1:])):
        if found:
            each = "; ".join(f"{m} s{seed} {d:+.3f}" for m, seed, d in found)
            spread = mean_std([d for _, _, d in found])
            print(f"| {WHAT[kind]} | {data} | {budget} | {len(found)} | {spread} | {each} |")


def without(kind: str) -> str:
    """The label of equal_time.sh's arm no<tool>: the automatic recipe without the tool."""
    tool = kind.removeprefix("no")
    if tool == "combined":  # the recipe before it kept them (the records' plain `auto`)
        return "auto without mosaic, multi-scale and crop"
    return f"auto without {WHAT[tool].split('(')[0].removeprefix('auto + ').strip()}"


def equal_time(folder: Path) -> None:
    """The equal-time pairs of study/recipes/equal_time.sh in folder: each tool's step cost measured
    beside the recipe's without it (no<tool>), then per seed no<tool> at N iterations and the tool at
    what the same minutes buy it."""
    cost: dict[tuple[str, str], list[float]] = defaultdict(list)
    cells: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    cpus: set[str] = set()
    for run in sorted(folder.iterdir()):
        if not (run / "metrics.json").is_file():
            continue
        metrics = json.loads((run / "metrics.json").read_text())
        cpus.add(cpu_text(json.loads((run / "command.json").read_text())["machine"]))
        if found := re.fullmatch(r"cost_(\w+?)_(\w+)_r\d+", run.name):
            cost[found.groups()].append(metrics["train_seconds"] / metrics["step"])
        elif found := re.fullmatch(r"(\w+?)_(\w+)_\d+it_s(\d+)", run.name):
            cells[found.groups()[:2]][int(found.group(3))] = metrics
    print(f"\n### {folder.parent.name}: equal-time pairs (`{folder.relative_to(RECORDS.parent.parent.parent)}/`)\n")
    print(
        "| data | what ran | s/step alone (runs) | iterations | seeds | AP | AP - without it, same seeds | AP50 | AP75 "
        "| per-class AP |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    order = list(WHAT)
    for (kind, data), runs in sorted(
        cells.items(),
        key=lambda kv: (kv[0][1], order.index(kv[0][0].removeprefix("no")), not kv[0][0].startswith("no")),
    ):
        base = cells.get((f"no{kind}", data), {})
        paired = [m["AP"] - base[seed]["AP"] for seed, m in runs.items() if seed in base]
        seconds = cost.get((kind, data), [])
        steps = " / ".join(f"{v:.3f}" for v in seconds) if seconds else "-"
        values = list(runs.values())
        classes = values[0].get("per_class_AP", {})
        per_class = ", ".join(f"{name} {mean_std([r['per_class_AP'][name] for r in values], 2)}" for name in classes)
        label = without(kind) if kind.startswith("no") else WHAT[kind]
        print(
            f"| {data} | {label} | {steps} | {values[0]['step']} | {len(values)} | "
            f"{mean_std([r['AP'] for r in values])} | {f'{mean_std(paired)} ({len(paired)})' if paired else '-'} | "
            f"{mean_std([r['AP50'] for r in values])} | {mean_std([r['AP75'] for r in values])} | "
            f"{per_class if len(classes) > 1 else '-'} |"
        )
    print(f"\nCPU: {', '.join(sorted(cpus))}")


def main() -> None:
    machines = {p.name: read_cells(p) for p in sorted(RECORDS.iterdir()) if p.is_dir()}
    for name, cells in machines.items():
        if cells:
            print(f"\n### {name} (`study/recipes/records/{name}/`)\n")
            table(cells)
        if (RECORDS / name / "equal_time").is_dir():
            equal_time(RECORDS / name / "equal_time")
    pooled(machines, "Each tool", PAIRED_WITH, set(WHAT) - set(BASELINES))
    pooled(machines, "The recipe", "torchvision", set(RECIPES))


if __name__ == "__main__":
    main()
