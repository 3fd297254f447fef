"""Anchor coverage: exact feature sizes, covered/uncovered boxes, measured suggestions, CLI, warning."""

import torch

from detector.cli.main import main as cli
from detector.core.config import AnchorConfig, MatcherConfig, load_config
from detector.engine.setup import build_trainer
from detector.evaluation.coverage import ImageBoxes, anchor_override, format_coverage, measure, suggest
from detector.model.anchors import feature_sizes
from detector.model.retinanet import build_model
from tests.conftest import small_model_cfg, tiny_config


def test_feature_sizes_match_the_model():
    model = build_model(small_model_cfg(), num_classes=2).eval()
    for h, w in ((128, 128), (100, 75), (33, 250)):
        with torch.no_grad():
            per_level = model(torch.zeros(1, 3, h, w))["anchors_per_level"]
        assert per_level == [fh * fw * 9 for fh, fw in feature_sizes(h, w)]


def test_small_boxes_are_uncovered_and_a_measured_suggestion_fixes_it():
    boxes = torch.tensor([[8.0, 8, 24, 24], [36, 32, 44, 48], [60, 20, 100, 60]])  # 16x16, 8x16, 40x40
    images = [ImageBoxes(boxes, (128, 128), 1)]
    default = AnchorConfig()  # 32..512: too big for the two small boxes (IoU 0.25 and 0.125)
    cov = measure(images, default, MatcherConfig())
    assert cov.num_boxes == 3 and cov.covered == 1 and cov.uncovered_ids == {1: [0, 1]}
    assert cov.positives[0] >= 3  # low-quality matches still give every box a positive
    assert cov.buckets("size") == [("0-16", 1, 1), ("16-32", 1, 1), ("32-64", 1, 0)]
    better, better_cov = suggest(images, default, MatcherConfig())
    assert better_cov.covered == 3 and better.sizes[0] < 32
    assert measure(images, better, MatcherConfig()).covered == 3
    cfg = load_config(None, anchor_override(better).split())
    assert cfg.model.anchors.sizes == better.sizes and cfg.model.anchors.ratios == better.ratios


def test_cli_reports_and_draws(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    args = [f"data.root={cfg.data.root}", "data.synthetic.num_train=8", "data.synthetic.num_val=4",
            "data.synthetic.image_size=96", "data.synthetic.size_range=[16,40]", "augment.image_size=96",
            "model.anchors.sizes=[64,128,256,512,1024]"]
    assert cli(["anchors", "--draw", "2", "--output", str(tmp_path / "cov"), *args]) == 0
    out = capsys.readouterr().out
    assert "boxes covered" in out and "suggested anchors" in out and "model.anchors.sizes=[" in out
    assert len(list((tmp_path / "cov").glob("coverage_*.png"))) == 2


def test_training_warns_when_coverage_is_poor(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    cfg.model.anchors.sizes = [128.0, 256.0, 512.0, 1024.0, 2048.0]
    build_trainer(cfg)
    assert "warning: anchors cover only" in capsys.readouterr().out
    build_trainer(tiny_config(tmp_path))
    assert "warning" not in capsys.readouterr().out


def test_positive_anchors_by_class_beside_boxes_by_class():
    boxes = torch.tensor([[8.0, 8, 24, 24], [60, 20, 100, 60], [10, 70, 50, 110]])  # 16 px, then two 40 px
    item = ImageBoxes(boxes, (128, 128), 1, labels=torch.tensor([1, 0, 0]))
    cov = measure([item], AnchorConfig(sizes=[16, 32, 64, 128, 256]), MatcherConfig())
    assert cov.class_boxes == {0: 2, 1: 1}
    assert cov.class_positives.total() == cov.positives[0] and cov.class_positives[0] > 2 * cov.class_positives[1] > 0
    share = 100 * cov.class_positives[0] / cov.positives[0]
    line = format_coverage(cov, "t", ["big", "small"]).splitlines()[-1]
    assert line.startswith(f"  class shares of boxes / of positive anchors: big 67% / {share:.0f}% (")
    assert "small 33% / " in line
    assert "class shares" not in format_coverage(measure([ImageBoxes(boxes, (128, 128), 1)], AnchorConfig(),
                                                         MatcherConfig()), "t")
