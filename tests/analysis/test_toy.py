"""The 90:10 toy study: its data, metrics by hand, and the runner end to end on a tiny setting."""

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from detector.analysis.toy import (
    METRICS,
    expected_calibration_error,
    inverse_frequency_alpha,
    threshold_metrics,
    toy_data,
)
from detector.cli.main import main as cli


def test_toy_data_has_the_exact_ratio_and_overlapping_classes():
    x, y = toy_data(1000, 0.1, np.random.default_rng(0))
    assert x.shape == (1000, 2) and int(y.sum()) == 100
    radius = np.linalg.norm(x, axis=1)
    assert 1.0 < radius[y == 1].mean() < 2.2 and radius[y == 0].min() < 1.0  # the rare blobs sit inside the common cloud


def test_inverse_frequency_alpha_weights_the_rare_class():
    y = np.array([1.0] * 10 + [0.0] * 90)
    assert inverse_frequency_alpha(y) == pytest.approx(0.9)


def test_threshold_metrics_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.2).astype(float)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    m = threshold_metrics(p, y, 0.5)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p >= 0.5))
    assert m["f1"] == pytest.approx(f1_score(y, p >= 0.5))
    assert threshold_metrics(p, y, 1.1)["precision"] == 0.0  # no positive prediction: precision 0, not NaN


def test_expected_calibration_error_by_hand():
    p = np.array([0.15] * 4 + [0.85] * 6)
    y = np.array([0, 0, 0, 1] + [1, 1, 1, 1, 1, 0.0])
    # bin [0.1, 0.2): |0.15 - 0.25| * 0.4; bin [0.8, 0.9): |0.85 - 5/6| * 0.6
    assert expected_calibration_error(p, y) == pytest.approx(0.1 * 0.4 + abs(0.85 - 5 / 6) * 0.6)


def test_runner_on_a_tiny_setting(tmp_path):
    args = ["toy", "--seeds", "2", "--ratios", "0.1", "--losses", "bce,focal_alpha_inverse", "--steps", "30",
            "--out", str(tmp_path)]
    assert cli(args) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["command"] == "focaldet " + " ".join(args)
    assert len(result["rows"]) == 4 and {r["loss"] for r in result["rows"]} == {"bce", "focal_alpha_inverse"}
    alpha = {r["loss"]: r["alpha"] for r in result["rows"]}
    assert alpha["bce"] == -1.0 and alpha["focal_alpha_inverse"] == pytest.approx(0.9)
    for row in result["rows"]:
        assert all(0.0 <= row[m] <= 1.0 for m in METRICS), row
    assert [s["seeds"] for s in result["summary"]] == [2, 2]
    assert "| 90:10 | focal_alpha_inverse |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "decision_regions.png").stat().st_size > 10_000
    assert (tmp_path / "focal_curve.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "at least 1 seed"),  # was an IndexError traceback, exit 1
    (["--ratios", "0.9,1.5"], "strictly between 0 and 1"),
    (["--losses", "focal,nope"], "unknown toy loss nope"),
])
def test_unusable_toy_arguments_are_one_line_errors(tmp_path, capsys, args, message):
    assert cli(["toy", *args, "--out", str(tmp_path / "toy")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "toy").exists()
