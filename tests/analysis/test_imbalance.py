"""Imbalance instruments: loss concentration per gamma (Figure 4), calibration (ECE), the CLI."""

import json

import numpy as np
import pytest

import evaluate
from detector.analysis.imbalance import (
    calibration,
    cumulative_curve,
    focal_per_sample,
    hardest_share,
    loss_distribution,
)
from detector.data.coco import coco_from_dict


def test_focal_per_sample_and_shares():
    p_t = np.array([0.9, 0.5, 0.1])
    np.testing.assert_allclose(focal_per_sample(p_t, 0.0), -np.log(p_t))
    np.testing.assert_allclose(focal_per_sample(p_t, 2.0), -(1 - p_t) ** 2 * np.log(p_t))
    losses = np.array([1.0, 1.0, 2.0, 6.0])
    assert hardest_share(losses, 0.25) == pytest.approx(0.6)
    x, y = cumulative_curve(losses, points=5)
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1.0])
    assert y[-1] == pytest.approx(1.0) and np.all(np.diff(y) >= 0)


def test_focusing_concentrates_the_negative_loss_on_hard_examples():
    rng = np.random.default_rng(0)
    p_neg = np.concatenate([rng.uniform(0, 0.05, 99_000), rng.uniform(0.3, 0.9, 1_000)])  # 1% hard
    p_pos = rng.uniform(0.2, 0.95, 500)
    dist = loss_distribution(p_pos, p_neg)
    shares = [dist["gamma"][g]["neg_hardest_1pct"] for g in ("0.0", "0.5", "1.0", "2.0")]
    assert all(a < b for a, b in zip(shares, shares[1:]))  # more focus, more concentrated
    assert shares[-1] > 0.95 and shares[0] < 0.6
    assert dist["gamma"]["2.0"]["neg_share_of_total"] < dist["gamma"]["0.0"]["neg_share_of_total"]


def test_calibration_by_hand():
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [i * 20, 0, 10, 10], "area": 100,
             "iscrowd": 0} for i in range(4)]
    gt = coco_from_dict({"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}], "annotations": anns})
    dets = [{"image_id": 1, "category_id": 1, "bbox": [i * 20, 0, 10, 10], "score": 0.95} for i in range(3)]
    dets += [{"image_id": 1, "category_id": 1, "bbox": [60, 0, 10, 10], "score": 0.15},  # correct
             {"image_id": 1, "category_id": 1, "bbox": [200, 200, 10, 10], "score": 0.12},  # wrong
             {"image_id": 1, "category_id": 1, "bbox": [300, 300, 10, 10], "score": 0.18},  # wrong
             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.11}]  # duplicate: wrong
    cal = calibration(gt, dets, bins=10)
    bins = {round(b["lo"], 1): b for b in cal["bins"]}
    assert bins[0.9]["count"] == 3 and bins[0.9]["precision"] == 1.0
    assert bins[0.1]["count"] == 4 and bins[0.1]["precision"] == 0.25
    expected = 3 / 7 * abs(1.0 - 0.95) + 4 / 7 * abs(0.25 - (0.15 + 0.12 + 0.18 + 0.11) / 4)
    assert cal["ece"] == pytest.approx(expected)


def test_evaluate_imbalance_writes_report(tmp_path, capsys, tiny_checkpoint):
    assert evaluate.main(["--checkpoint", str(tiny_checkpoint[1]), "--imbalance", "--output", str(tmp_path / "e"),
                          "inference.score_thresh=0.0"]) == 0
    out = capsys.readouterr().out
    assert "calibration: ECE" in out and "neg hardest 1%" in out
    report = json.loads((tmp_path / "e" / "imbalance" / "imbalance.json").read_text())
    assert report["loss_distribution"]["num_positive"] > 0 and set(report["loss_distribution"]["gamma"]) == {
        "0.0", "0.5", "1.0", "2.0"}
    assert (tmp_path / "e" / "imbalance" / "loss_distribution.png").stat().st_size > 1000
    assert (tmp_path / "e" / "imbalance" / "reliability.png").stat().st_size > 1000
