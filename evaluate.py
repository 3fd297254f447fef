"""Evaluate detections with COCO metrics, or compare runs.

    python evaluate.py --checkpoint runs/shapes_focal/last.pt         # val split of its dataset
    python evaluate.py --checkpoint CKPT --images DIR --annotations FILE [key.sub=value ...]
    python evaluate.py --config configs/coco2017_torchvision.yaml --weights tv_coco.pth  # torchvision's weights
    python evaluate.py --annotations FILE --detections RESULTS.json   # score a results file
    python evaluate.py ... evaluation.backend=pycocotools             # the reference COCO implementation
    python evaluate.py --checkpoint CKPT --scores                     # + where the scores sit
    python evaluate.py --checkpoint CKPT --imbalance                  # + calibration, loss distribution
    python evaluate.py --checkpoint CKPT --missed                     # + what its loss did with left-out boxes
    python evaluate.py --compare runs/shapes_focal runs/shapes_bce    # side by side, deltas
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from pycocotools.coco import COCO

from detector.analysis.missed import missed_report
from detector.analysis.report import imbalance_report
from detector.core.checkpoint import CheckpointError
from detector.core.config import Config, ConfigError, apply_overrides
from detector.core.io import read_json
from detector.data.coco import CocoDetection, load_coco
from detector.evaluation.compare import compare_table
from detector.evaluation.evaluator import EvalResult, evaluate_checkpoint, score_results
from detector.evaluation.scores import format_report, score_report
from detector.inference.detector import Detector


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="checkpoint to evaluate (last.pt or best.pt)")
    parser.add_argument("--weights", help="a weights file (torchvision's RetinaNet state_dict, or a checkpoint) "
                                          "for the model of --config, evaluated on --config's data")
    parser.add_argument("--config", help="with --weights: the YAML config giving the model and the data")
    parser.add_argument("--images", help="image folder of the evaluation set (default: the config's val split)")
    parser.add_argument("--annotations", help="its annotations (COCO JSON, or the checkpoint's data format)")
    parser.add_argument("--detections", help="COCO results JSON to score against --annotations")
    parser.add_argument("--output", help="folder for detections.json, eval_metrics.json and the figures "
                                         "(default: the checkpoint's or detections file's folder)")
    parser.add_argument("--scores", action="store_true",
                        help="also report score quantiles of true, cross-class and other false positives")
    parser.add_argument("--imbalance", action="store_true",
                        help="also write the imbalance report: score calibration (reliability diagram, ECE) "
                             "and, for a checkpoint, the loss distribution over anchors per gamma")
    parser.add_argument("--missed", action="store_true",
                        help="also measure, on the training images, what the run's loss did with the boxes its "
                             "data.noise.missing left out: scores, loss and gradient shares of their anchors "
                             "(for a clean run, give data.noise.missing=P to measure it on those boxes)")
    parser.add_argument("--compare", nargs="+", metavar="RUN", help="run folders or metrics JSON files")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)
    if not (args.compare or args.checkpoint or args.detections or args.weights):
        parser.error("give --checkpoint, --weights with --config, --detections with --annotations, or --compare")
    if bool(args.weights) != bool(args.config):
        parser.error("--weights and --config go together")
    if args.missed and not args.checkpoint:
        parser.error("--missed measures a trained run: give its --checkpoint")
    if args.detections and not args.annotations:
        parser.error("--detections needs --annotations (the ground truth)")
    return args


def score_file(args: argparse.Namespace) -> tuple[EvalResult, COCO, Path]:
    """--detections: a results file against COCO ground truth."""
    detections = read_json(args.detections, "detections file")
    if not isinstance(detections, list):
        raise ValueError(f"detections file '{args.detections}' must hold a list of COCO results")
    coco_gt = load_coco(args.annotations)
    backend = apply_overrides(Config(), args.overrides).evaluation.backend
    return score_results(coco_gt, detections, backend), coco_gt, Path(args.output or Path(args.detections).parent)


def report(args: argparse.Namespace, result: EvalResult, coco_gt: COCO, out_dir: Path,
           det: Detector | None = None, dataset: CocoDetection | None = None) -> None:
    """Print the tables and write eval_metrics.json (+ detections.json and figures for a checkpoint)."""
    print(result.table())
    if args.scores:
        print(format_report(score_report(coco_gt, result.results)))
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.imbalance:
        print(imbalance_report(coco_gt, result.results, out_dir / "imbalance", det, dataset))
    if args.missed and det is not None:
        print(missed_report(det, out_dir / "missed"))
    (out_dir / "eval_metrics.json").write_text(json.dumps(result.metrics(), indent=1))
    print(f"wrote {out_dir / 'eval_metrics.json'}")
    if det is not None:
        (out_dir / "detections.json").write_text(json.dumps(result.results))
        result.save_figures(out_dir)
        print(f"wrote {out_dir / 'detections.json'}, {out_dir / 'pr_curves.png'} and {out_dir / 'confusion_matrix.png'}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        if args.compare:
            print(compare_table(args.compare))
        elif args.detections:
            report(args, *score_file(args))
        else:
            source = args.checkpoint or args.weights
            result, dataset, det = evaluate_checkpoint(source, args.overrides, args.images or "",
                                                       args.annotations or "", args.config)
            report(args, result, dataset.coco, Path(args.output or Path(source).parent), det, dataset)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
