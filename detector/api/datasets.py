"""A dataset before training, from Python: what ``focaldet scan`` and ``focaldet anchors`` run.

    >>> checked = scan("raccoon")                 # every split read, every image decoded, every box judged
    >>> print(checked.report.summary()); checked.stop  # "" when training would start on this data
    >>> cover = anchors("raccoon", draw=4)        # how many boxes the anchors cover; better ones searched
    >>> cover.configured.fraction_covered, cover.suggested.fraction_covered, cover.override
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torchvision.io import write_png

from detector.core.config import AnchorConfig, load_config
from detector.data.build import build_dataset, configured_splits, prepare_data, require_training_images
from detector.data.coco import export_coco
from detector.data.problems import DataError, DataReport
from detector.engine.recipes import resolve_recipe
from detector.evaluation.coverage import Coverage, anchor_override, dataset_boxes, draw_coverage, measure, suggest
from detector.evaluation.draw import ground_truth_grid


@dataclass
class Scan:
    report: DataReport  # every problem by split (``report.summary()``: the printed table)
    output: Path  # data_report.txt (one line per problem), data_report.json, gt_grid_<split>.png
    grids: dict[str, Path] = field(default_factory=dict)  # split -> training images drawn with their boxes
    coco: dict[str, Path] = field(default_factory=dict)  # split -> COCO JSON written (``to_coco``)
    image_folders: dict[str, Path] = field(default_factory=dict)  # split -> the folder that JSON's file names are in
    stop: str = ""  # why training would stop before step 1 on this data ("" when it would start)


def scan(config: str | Path | None = None, overrides: Sequence[str] = (), output: str | Path | None = None,
         grid: int = 16, tile: int = 384, to_coco: str | Path | None = None) -> Scan:
    """Read every split of ``config``'s data, decode every image, judge every box, as training does
    (the same cached scan): the report goes to ``output`` (default ``runs/<name>/scan``), ``grid``
    training images of ``tile`` pixels drawn per split (0: none), and with ``to_coco`` each split
    written as ``<to_coco>/<split>.json``. Nothing raises for the data's problems: ``stop`` says what
    training would stop on (``focaldet scan`` exits 1 then)."""
    cfg = load_config(config, list(overrides))
    out = Path(output or Path("runs") / cfg.name / "scan")
    prepared, report = prepare_data(cfg, configured_splits(cfg.data), report_dir=out, strict=False)
    result = Scan(report, out)
    for split, part in prepared.items():
        if grid > 0 and part.coco["images"]:
            result.grids[split] = out / f"gt_grid_{split}.png"
            write_png(ground_truth_grid(build_dataset(cfg, split, prepared=part), grid, tile), str(result.grids[split]))
        if to_coco:
            result.coco[split] = Path(to_coco) / f"{split}.json"
            result.image_folders[split] = export_coco(part.coco, part.root, result.coco[split])
    try:
        report.raise_for(cfg.data.on_bad_image, out / "data_report.txt")
        require_training_images(prepared, cfg.data.filter_empty)
    except DataError as exc:
        result.stop = str(exc)
    return result


@dataclass
class AnchorCoverage:
    configured_anchors: AnchorConfig
    configured: Coverage  # boxes covered at IoU >= matcher.fg_iou, positives per image, per size / ratio / class
    suggested_anchors: AnchorConfig  # the best candidate of the search (the configured ones when none is better)
    suggested: Coverage
    class_names: list[str]
    recipe: str = ""  # with recipe: auto, the line (printed) saying which recipe's input size and anchors were measured
    drawn: list[Path] = field(default_factory=list)  # coverage_<image id>.png: covered green, uncovered red

    @property
    def better(self) -> bool:
        """The search found anchors that cover more boxes than the configured ones."""
        return self.suggested.covered > self.configured.covered

    @property
    def override(self) -> str:
        """The ``key=value`` overrides that train with the suggested anchors."""
        return anchor_override(self.suggested_anchors)


def anchors(config: str | Path | None = None, overrides: Sequence[str] = (), split: str = "train",
            max_images: int = 2000, draw: int = 0, output: str | Path | None = None) -> AnchorCoverage:
    """How many of ``split``'s boxes (its first ``max_images`` images; 0: all) the configured anchors
    cover, at the input size and anchors training would use (``recipe: auto`` chosen as training
    chooses it); anchors that cover more, searched and measured; ``draw`` images drawn to ``output``
    (default ``runs/<name>/coverage``), uncovered boxes first."""
    # measured at the input size and anchors training would use (its recipe, the anchors not yet searched)
    cfg, recipe = resolve_recipe(load_config(config, list(overrides)), config, list(overrides), search_anchors=False)
    dataset = build_dataset(cfg, split, train_transforms=False)
    images = dataset_boxes(dataset, cfg.augment, max_images)
    if not images:
        raise ValueError(f"the {split} split has no images with a known size")
    current = measure(images, cfg.model.anchors, cfg.matcher)
    better, cov = suggest(images, cfg.model.anchors, cfg.matcher)
    result = AnchorCoverage(cfg.model.anchors, current, better, cov, list(dataset.class_names), recipe)
    if draw:
        ids = list(current.uncovered_ids) + [i.image_id for i in images if i.image_id not in current.uncovered_ids]
        out = Path(output or Path("runs") / cfg.name / "coverage")
        out.mkdir(parents=True, exist_ok=True)
        for image_id in ids[:draw]:
            result.drawn.append(out / f"coverage_{image_id}.png")
            write_png(draw_coverage(dataset, image_id, cfg.model.anchors, cfg.matcher), str(result.drawn[-1]))
    return result


__all__ = ["AnchorCoverage", "Scan", "anchors", "scan"]
