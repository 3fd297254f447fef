import json

import numpy as np
import pytest

import evaluate
from detector.data.coco import load_coco
from detector.data.synthetic import ensure_synthetic
from detector.evaluation.coco_eval import STAT_KEYS, coco_evaluate
from tests.conftest import tiny_config


def gt_as_detections(ann_path):
    gt = json.loads(ann_path.read_text())
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in gt["annotations"]]


def test_ground_truth_as_detections_scores_ap_one(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    root = ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    ann = root / "annotations" / "val.json"
    det = tmp_path / "det.json"
    det.write_text(json.dumps(gt_as_detections(ann)))
    assert evaluate.main(["--annotations", str(ann), "--detections", str(det), "--output", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "eval_metrics.json").read_text())
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert set(STAT_KEYS) <= set(metrics)
    assert "VOC AP50: 1.000 (all-point), 1.000 (VOC07 11-point)" in capsys.readouterr().out
    assert metrics["VOC_AP50"] == pytest.approx(1.0) and set(metrics["per_class_VOC07_AP50"]) == {
        "circle", "square", "triangle"}


def test_shifted_detections_score_lower(tmp_path):
    cfg = tiny_config(tmp_path)
    root = ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    ann = root / "annotations" / "val.json"
    dets = gt_as_detections(ann)
    for d in dets:
        d["bbox"][0] += d["bbox"][2] * 0.4  # IoU ~0.43: a miss at 0.5
    (tmp_path / "det.json").write_text(json.dumps(dets))
    evaluate.main(["--annotations", str(ann), "--detections", str(tmp_path / "det.json"), "--output", str(tmp_path)])
    assert json.loads((tmp_path / "eval_metrics.json").read_text())["AP50"] == pytest.approx(0.0)


def test_compare_prints_deltas(tmp_path, capsys):
    for name, ap in (("focal", 0.5), ("bce", 0.625)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({k: ap for k in STAT_KEYS}))
    assert evaluate.main(["--compare", str(tmp_path / "focal"), str(tmp_path / "bce")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("focal") and "0.500" in out[1]
    assert out[2].startswith("bce") and "0.625 (+0.125)" in out[2]


def test_clear_errors(tmp_path, capsys):
    assert evaluate.main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "nope.pt" in err and "does not exist" in err
    assert evaluate.main(["--compare", str(tmp_path)]) == 2
    assert "metrics.json" in capsys.readouterr().err
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04garbage")
    assert evaluate.main(["--checkpoint", str(tmp_path / "trunc.pt")]) == 2
    assert "trunc.pt" in capsys.readouterr().err


def test_score_report_classifies_detections(tmp_path):
    from detector.data.coco import load_coco
    from detector.evaluation.scores import score_report

    cfg = tiny_config(tmp_path)
    root = ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    ann = root / "annotations" / "val.json"
    dets = gt_as_detections(ann)
    num_gt = len(dets)
    first = dict(dets[0], score=0.9, category_id=dets[0]["category_id"] % 3 + 1)  # right box, wrong class
    duplicate = dict(dets[1], score=0.5)  # second detection of an already-claimed box
    far = {"image_id": dets[0]["image_id"], "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.2}
    report = score_report(load_coco(ann), dets + [first, duplicate, far])
    assert report["num_gt"] == num_gt
    assert report["tp"]["count"] == num_gt and report["tp"]["median"] == 1.0
    assert report["cross"]["count"] == 1 and report["cross"]["max"] == 0.9
    assert report["fp"]["count"] == 2 and report["fp"]["max"] == 0.5


def test_faster_coco_eval_matches_pycocotools(tmp_path):
    """The default backend must give pycocotools' numbers: noisy, mislabeled, crowded detections."""
    cfg = tiny_config(tmp_path)
    root = ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    coco_gt = load_coco(root / "annotations" / "val.json")
    rng = np.random.default_rng(0)
    dets = []
    for d in gt_as_detections(root / "annotations" / "val.json"):
        for _ in range(4):
            x, y, w, h = np.asarray(d["bbox"]) + rng.normal(0, 0.2, 4) * np.repeat(d["bbox"][2:], 2)
            label = d["category_id"] if rng.random() < 0.7 else int(rng.choice(coco_gt.getCatIds()))
            dets.append({"image_id": d["image_id"], "category_id": label,
                         "bbox": [float(x), float(y), float(abs(w)), float(abs(h))], "score": float(rng.random())})
    ref_stats, ref_cls, _ = coco_evaluate(coco_gt, dets, backend="pycocotools")
    stats, per_class, _ = coco_evaluate(coco_gt, dets, backend="faster_coco_eval")
    assert 0.05 < ref_stats["AP50"] < 0.95  # a non-trivial case
    assert stats == pytest.approx(ref_stats, abs=1e-9)
    assert per_class == pytest.approx(ref_cls, abs=1e-9)


def test_unknown_backend_is_a_clear_error(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    root = ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    ann = root / "annotations" / "val.json"
    (tmp_path / "det.json").write_text(json.dumps(gt_as_detections(ann)))
    code = evaluate.main(["--annotations", str(ann), "--detections", str(tmp_path / "det.json"),
                          "evaluation.backend=cocoapi"])
    assert code == 2
    assert "evaluation.backend" in capsys.readouterr().err
