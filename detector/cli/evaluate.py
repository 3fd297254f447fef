"""Evaluate detections with COCO metrics (and VOC AP50), or compare runs.

    focaldet eval --checkpoint runs/shapes_focal/last.pt         # the val split of its dataset
    focaldet eval --checkpoint CKPT --images DIR --annotations FILE [key.sub=value ...]
    focaldet eval --config coco2017_torchvision --weights tv_coco.pth   # torchvision's weights
    focaldet eval --annotations FILE --detections RESULTS.json   # score a results file
    focaldet eval ... evaluation.backend=pycocotools             # the reference COCO implementation
    focaldet eval --checkpoint CKPT --scores                     # + where the scores sit
    focaldet eval --checkpoint CKPT --imbalance                  # + calibration, loss distribution
    focaldet eval --checkpoint CKPT --missed                     # + what its loss did with left-out boxes
    focaldet eval --compare runs/shapes_focal runs/shapes_bce    # side by side, deltas
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detector.cli.common import add_config, add_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint to evaluate (last.pt or best.pt)")
    parser.add_argument("--weights", help="a weights file (torchvision's RetinaNet state_dict, or a checkpoint) "
                                          "for the model of --config, evaluated on --config's data")
    add_config(parser, default=None, help="with --weights: the config giving the model and the data")
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
    add_overrides(parser)


def check(args: argparse.Namespace) -> None:
    """The argument combinations that make sense; argparse's own usage error otherwise."""
    problem = ""
    if not (args.compare or args.checkpoint or args.detections or args.weights):
        problem = "give --checkpoint, --weights with --config, --detections with --annotations, or --compare"
    elif bool(args.weights) != bool(args.config):
        problem = "--weights and --config go together"
    elif args.missed and not args.checkpoint:
        problem = "--missed measures a trained run: give its --checkpoint"
    elif args.detections and not args.annotations:
        problem = "--detections needs --annotations (the ground truth)"
    if problem:
        args.parser.error(problem)


def run(args: argparse.Namespace) -> int:
    from detector.analysis.missed import missed_report
    from detector.analysis.report import imbalance_report
    from detector.api.runs import evaluate
    from detector.core.config import Config, apply_overrides
    from detector.core.io import read_json
    from detector.data.coco import load_coco
    from detector.evaluation.compare import compare_table
    from detector.evaluation.evaluator import score_results
    from detector.evaluation.scores import format_report, score_report

    check(args)
    if args.compare:
        print(compare_table(args.compare))
        return 0
    if args.detections:
        detections = read_json(args.detections, "detections file")
        if not isinstance(detections, list):
            raise ValueError(f"detections file '{args.detections}' must hold a list of COCO results")
        coco_gt = load_coco(args.annotations)
        result = score_results(coco_gt, detections, apply_overrides(Config(), args.overrides).evaluation.backend)
        out = Path(args.output or Path(args.detections).parent)
        print(result.table())
        if args.scores:
            print(format_report(score_report(coco_gt, result.results)))
        out.mkdir(parents=True, exist_ok=True)
        if args.imbalance:
            print(imbalance_report(coco_gt, result.results, out / "imbalance"))
        (out / "eval_metrics.json").write_text(json.dumps(result.metrics(), indent=1))
        print(f"wrote {out / 'eval_metrics.json'}")
        return 0
    source = args.checkpoint or args.weights
    ev = evaluate(source, args.images or "", args.annotations or "", args.overrides, args.config, args.output)
    print(ev.result.table())
    if args.scores:
        print(format_report(score_report(ev.dataset.coco, ev.result.results)))
    if args.imbalance:
        print(imbalance_report(ev.dataset.coco, ev.result.results, ev.output / "imbalance", ev.detector, ev.dataset))
    if args.missed:
        print(missed_report(ev.detector, ev.output / "missed"))
    print(f"wrote {ev.output / 'eval_metrics.json'}, {ev.output / 'detections.json'}, "
          f"{ev.output / 'pr_curves.png'} and {ev.output / 'confusion_matrix.png'}")
    return 0
