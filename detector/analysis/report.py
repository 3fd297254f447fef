"""The imbalance report of focaldet eval --imbalance: numbers, JSON and the two figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO

from detector.analysis.imbalance import anchor_probabilities, calibration, loss_distribution
from detector.analysis.plots import plot_loss_distribution, plot_reliability
from detector.core.boxes import build_matcher
from detector.data.build import build_loader
from detector.data.coco import CocoDetection
from detector.inference.detector import Detector


def imbalance_report(coco_gt: COCO, results: list[dict[str, Any]], out_dir: Path,
                     det: Detector | None = None, dataset: CocoDetection | None = None) -> str:
    """Calibration of ``results``; with a detector and its dataset also the loss distribution.
    Writes imbalance.json, reliability.png (and loss_distribution.png) to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"calibration": calibration(coco_gt, results)}
    plot_reliability(report["calibration"], out_dir / "reliability.png")
    cal = report["calibration"]
    lines = [f"calibration: ECE {cal['ece']:.3f} over {cal['num_detections']} detections "
             "(correct = true positive at IoU 0.5)",
             "  score bin    count  mean score  precision"]
    lines += [f"  {b['lo']:.1f}-{b['hi']:.1f}  {b['count']:8d}  {b['score']:10.3f}  {b['precision']:9.3f}"
              for b in cal["bins"]]
    if det is not None and dataset is not None:
        loader = build_loader(dataset, det.cfg.train.batch_size, det.cfg.train.num_workers)
        matcher = build_matcher(det.cfg.matcher, det.cfg.model.anchors.per_location)
        dist = loss_distribution(*anchor_probabilities(det.model, loader, matcher, det.device))
        report["loss_distribution"] = dist
        plot_loss_distribution(dist, out_dir / "loss_distribution.png",
                               f"{dist['num_positive']} positive, {dist['num_negative']} negative samples")
        lines.append("loss distribution on the fixed predictions (share of the loss from the hardest samples):")
        lines.append("  gamma  neg hardest 1%  neg hardest 10%  pos hardest 10%  negatives' share of all loss")
        for g, d in dist["gamma"].items():
            lines.append(f"  {g:>5}  {d['neg_hardest_1pct']:14.3f}  {d['neg_hardest_10pct']:15.3f}  "
                         f"{d['pos_hardest_10pct']:15.3f}  {d['neg_share_of_total']:28.3f}")
    (out_dir / "imbalance.json").write_text(json.dumps(report, indent=1))
    lines.append(f"wrote {out_dir / 'imbalance.json'} and figures in {out_dir}/")
    return "\n".join(lines)
