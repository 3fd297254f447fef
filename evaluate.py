"""Evaluate detections with COCO metrics, or compare runs.

    python evaluate.py --checkpoint runs/shapes_focal/last.pt         # val split of its dataset
    python evaluate.py --checkpoint CKPT --images DIR --annotations FILE [key.sub=value ...]
    python evaluate.py --annotations FILE --detections RESULTS.json   # score a results file
    python evaluate.py ... evaluation.backend=pycocotools             # the reference COCO implementation
    python evaluate.py --checkpoint CKPT --scores                     # + where the scores sit
    python evaluate.py --checkpoint CKPT --imbalance                  # + calibration, loss distribution
    python evaluate.py --compare runs/shapes_focal runs/shapes_bce    # side by side, deltas
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from detector.analysis.report import imbalance_report
from detector.core.config import Config, ConfigError, apply_overrides
from detector.data.build import build_dataset
from detector.data.coco import CocoDetection, load_coco
from detector.core.checkpoint import CheckpointError
from detector.inference.detector import Detector, load_detector
from detector.evaluation.coco_eval import coco_evaluate, format_table, metrics_dict
from detector.evaluation.compare import compare_table, read_json
from detector.evaluation.evaluator import EvalResult, evaluate_dataset
from detector.evaluation.scores import format_report, score_report
from detector.evaluation.voc_eval import voc_evaluate


def evaluate_checkpoint(args: argparse.Namespace) -> tuple[EvalResult, CocoDetection, Detector]:
    def point_at_data(cfg: Config) -> None:
        if args.images:
            cfg.data.val_images = args.images
        if args.annotations:
            cfg.data.val_annotations = args.annotations
    det = load_detector(args.checkpoint, args.overrides, point_at_data)
    dataset = build_dataset(det.cfg, "val")
    if dataset.cat_ids != det.cat_ids:
        raise ValueError(f"'{dataset.ann_file}' has category ids {dataset.cat_ids}, the checkpoint was "
                         f"trained on {det.cat_ids}")
    result = evaluate_dataset(det.model, det.postprocess, dataset, det.cfg.train.batch_size,
                              det.cfg.train.num_workers, det.device, det.amp_dtype,
                              backend=det.cfg.evaluation.backend, confusion_score=det.cfg.evaluation.confusion_score)
    return result, dataset, det


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="checkpoint to evaluate (last.pt or best.pt)")
    parser.add_argument("--images", help="image folder of a COCO-format set (default: the config's val split)")
    parser.add_argument("--annotations", help="COCO-format annotation JSON (ground truth)")
    parser.add_argument("--detections", help="COCO results JSON to score against --annotations")
    parser.add_argument("--output", help="folder for detections.json and metrics.json "
                                         "(default: the checkpoint's folder)")
    parser.add_argument("--scores", action="store_true",
                        help="also report score quantiles of true, cross-class and other false positives")
    parser.add_argument("--imbalance", action="store_true",
                        help="also write the imbalance report: score calibration (reliability diagram, ECE) "
                             "and, for a checkpoint, the loss distribution over anchors per gamma")
    parser.add_argument("--compare", nargs="+", metavar="RUN", help="run folders or metrics JSON files")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")
    args = parser.parse_args(argv)
    try:
        if args.compare:
            print(compare_table(args.compare))
            return 0
        if args.detections:
            if not args.annotations:
                raise ValueError("--detections needs --annotations (the ground truth)")
            detections = _read_detections(args.detections)
            coco_gt = load_coco(args.annotations)
            backend = apply_overrides(Config(), args.overrides).evaluation.backend
            stats, per_class, _ = coco_evaluate(coco_gt, detections, backend=backend)
            voc = voc_evaluate(coco_gt, detections)
            results, det, dataset = None, None, None
            out_dir = Path(args.output or Path(args.detections).parent)
        elif args.checkpoint:
            result, dataset, det = evaluate_checkpoint(args)
            coco_gt = dataset.coco
            stats, per_class, voc, results = result.stats, result.per_class, result.voc, result.results
            detections = results
            out_dir = Path(args.output or Path(args.checkpoint).parent)
            result.save_figures(out_dir)
            print(f"wrote {out_dir / 'pr_curves.png'} and {out_dir / 'confusion_matrix.png'}")
        else:
            parser.error("give --checkpoint, --detections with --annotations, or --compare")
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(stats, per_class, voc))
    if args.scores:
        print(format_report(score_report(coco_gt, detections)))
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.imbalance:
        print(imbalance_report(coco_gt, detections, out_dir / "imbalance", det, dataset))
    _write_outputs(out_dir, metrics_dict(stats, per_class, voc), results)
    return 0


def _write_outputs(out_dir: Path, metrics: dict, results: list | None) -> None:
    if results is not None:
        (out_dir / "detections.json").write_text(json.dumps(results))
    (out_dir / "eval_metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"wrote {out_dir / 'eval_metrics.json'}" + (f" and {out_dir / 'detections.json'}" if results else ""))


def _read_detections(path: str) -> list:
    data = read_json(path, "detections file")
    if not isinstance(data, list):
        raise ValueError(f"detections file '{path}' must hold a list of COCO results")
    return data


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
