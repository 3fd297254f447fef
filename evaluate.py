"""Evaluate detections with COCO metrics, or compare runs.

    python evaluate.py --checkpoint runs/shapes_focal/last.pt         # val split of its dataset
    python evaluate.py --checkpoint CKPT --images DIR --annotations FILE [key.sub=value ...]
    python evaluate.py --annotations FILE --detections RESULTS.json   # score a results file
    python evaluate.py --checkpoint CKPT --scores                     # + where the scores sit
    python evaluate.py --compare runs/shapes_focal runs/shapes_bce    # side by side, deltas
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from pycocotools.coco import COCO

from detector.boxes import BoxCoder
from detector.config import ConfigError, apply_overrides, from_dict
from detector.data.build import build_dataset
from detector.data.coco import load_coco
from detector.engine.checkpoint import CheckpointError, load_checkpoint
from detector.engine.device import amp_dtype, resolve_device
from detector.evaluation.coco_eval import coco_evaluate, format_table
from detector.evaluation.compare import compare_table, read_json
from detector.evaluation.evaluator import evaluate_dataset
from detector.evaluation.scores import format_report, score_report
from detector.model.retinanet import build_model
from detector.postprocess import build_postprocessor


def evaluate_checkpoint(args: argparse.Namespace) -> tuple[dict, dict, list, COCO]:
    state = load_checkpoint(args.checkpoint)
    cfg = from_dict(state["config"])
    if args.images:
        cfg.data.val_images = args.images
    if args.annotations:
        cfg.data.val_annotations = args.annotations
    apply_overrides(cfg, args.overrides)
    device = resolve_device(cfg.train.device)
    dataset = build_dataset(cfg, "val")
    if dataset.cat_ids != list(state["cat_ids"]):
        raise ValueError(f"'{dataset.ann_file}' has category ids {dataset.cat_ids}, the checkpoint was "
                         f"trained on {list(state['cat_ids'])}")
    model = build_model(cfg.model, len(state["cat_ids"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint '{args.checkpoint}' does not fit the model of its config: "
                              f"{str(exc).splitlines()[0]}") from None
    model.to(device)
    post = build_postprocessor(cfg.inference, BoxCoder(cfg.loss.box_coder_weights))
    result = evaluate_dataset(model, post, dataset, cfg.train.batch_size, cfg.train.num_workers, device,
                              amp_dtype(cfg.train.amp, device))
    return result.stats, result.per_class, result.results, dataset.coco


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
            stats, per_class, _ = coco_evaluate(coco_gt, detections)
            results = None
            out_dir = Path(args.output or Path(args.detections).parent)
        elif args.checkpoint:
            stats, per_class, results, coco_gt = evaluate_checkpoint(args)
            detections = results
            out_dir = Path(args.output or Path(args.checkpoint).parent)
        else:
            parser.error("give --checkpoint, --detections with --annotations, or --compare")
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(stats, per_class))
    if args.scores:
        print(format_report(score_report(coco_gt, detections)))
    out_dir.mkdir(parents=True, exist_ok=True)
    if results is not None:
        (out_dir / "detections.json").write_text(json.dumps(results))
    (out_dir / "eval_metrics.json").write_text(json.dumps({**stats, "per_class_AP": per_class}, indent=1))
    print(f"wrote {out_dir / 'eval_metrics.json'}" + (f" and {out_dir / 'detections.json'}" if results else ""))
    return 0


def _read_detections(path: str) -> list:
    data = read_json(path, "detections file")
    if not isinstance(data, list):
        raise ValueError(f"detections file '{path}' must hold a list of COCO results")
    return data


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
