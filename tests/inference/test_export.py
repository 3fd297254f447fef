"""ONNX export: ONNX Runtime gives PyTorch's outputs at other batch and image sizes, and the same
detections after the shared post-processing; torch.export round-trips too."""

import json

import pytest
import torch

import detector as detector_api
from detector.cli.main import main as cli
from detector.core.checkpoint import save_checkpoint
from detector.data.images import load_rgb
from detector.data.synthetic import ensure_synthetic
from detector.inference.detector import load_detector
from detector.inference.export import ExportableRetinaNet, OnnxDetector, as_preds, torch_detections
from detector.model.retinanet import build_model
from tests.conftest import tiny_config

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model whose scores are spread out without training (its classifier's bias and weights
    drawn wide, as tests/engine/test_fast_paths.py does), saved as a checkpoint beside its dataset."""
    tmp = tmp_path_factory.mktemp("export")
    cfg = tiny_config(tmp)
    # GroupNorm's 32 groups need > 1 value each: 64 channels, since P7 of a 96 px image is 1 x 1
    cfg.model.head.norm, cfg.model.fpn_channels = "gn", 64
    ensure_synthetic(cfg.data.synthetic, cfg.data.root)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(cfg.data.synthetic.classes))
    with torch.no_grad():
        model.cls_head.out.bias.normal_(-3.0, 2.0)
        model.cls_head.out.weight.mul_(10)
    (tmp / "run").mkdir()
    save_checkpoint({"model": model.state_dict(), "config": cfg.to_dict(), "cat_ids": [1, 2, 3],
                     "class_names": list(cfg.data.synthetic.classes)}, tmp / "run" / "last.pt")
    return tmp


def test_onnx_matches_pytorch_and_the_cli_checks_it(trained, capsys):
    """One export (the letterbox default) through the command line with --check, then compared here."""
    ckpt = trained / "run" / "last.pt"
    onnx_path = trained / "model.onnx"
    files = sorted((trained / "shapes" / "val").glob("*.png"))
    assert cli(["export", "--checkpoint", str(ckpt), "--output", str(onnx_path), "--check", str(files[0]),
                "inference.score_thresh=0.1"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["same_labels"] and report["max_box_diff"] < 1e-3
    detector = load_detector(ckpt, ["train.device=cpu", "inference.score_thresh=0.1"])
    runner = OnnxDetector(onnx_path, detector)
    reference = ExportableRetinaNet(detector.model).eval()
    # dynamic batch: the export's example had 2 images (letterbox: height and width are fixed)
    for shape in [(1, 3, 96, 96), (3, 3, 96, 96)]:
        images = torch.rand(shape)
        with torch.no_grad():
            expected = as_preds(reference(images))
        got = runner.run(images)
        assert got["anchors_per_level"] == expected["anchors_per_level"]
        torch.testing.assert_close(got["anchors"], expected["anchors"], rtol=0, atol=1e-4)
        for key in ("cls_logits", "box_deltas"):
            torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-4)
    # whole pipeline on the dataset's images: same labels, boxes within 1e-3 pixels
    total = 0
    for path in files:
        image = load_rgb(path)
        ours = torch_detections(detector, runner.transform, image)
        theirs = runner(image)
        assert torch.equal(ours["labels"], theirs["labels"]), path
        torch.testing.assert_close(theirs["boxes"], ours["boxes"], rtol=0, atol=1e-3)
        torch.testing.assert_close(theirs["scores"], ours["scores"], rtol=0, atol=1e-4)
        total += len(ours["labels"])
    assert total > 0  # the comparison covered real detections


def test_a_bad_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert cli(["export", "--checkpoint", str(tmp_path / "bad.pt"), "--output", str(tmp_path / "x.onnx")]) == 2
    assert "bad.pt' cannot be loaded" in capsys.readouterr().err


def test_dynamic_image_size_onnx_and_torch_export(trained, tmp_path):
    """shortest_edge resizing: height and width are dynamic in both export formats."""
    ckpt = trained / "run" / "last.pt"
    resize = "augment.resize=shortest_edge"
    exported = detector_api.export(ckpt, tmp_path / "m.pt2", format="program", overrides=[resize])  # the API
    assert exported.format == "program" and exported.check is None
    assert cli(["export", "--checkpoint", str(ckpt), "--output", str(tmp_path / "m.onnx"), resize]) == 0
    program = torch.export.load(str(exported.path))
    detector = load_detector(ckpt, ["train.device=cpu", resize])
    runner = OnnxDetector(tmp_path / "m.onnx", detector)
    for shape in [(1, 3, 160, 224), (3, 3, 300, 140)]:  # neither is the example (2, 3, 256, 320)
        images = torch.rand(shape)
        with torch.no_grad():
            expected = ExportableRetinaNet(detector.model).eval()(images)
            got = program.module()(images)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert int(got[3].sum()) == expected[1].shape[1]  # anchors_per_level adds up to A
        onnx = runner.run(images)
        assert onnx["anchors_per_level"] == expected[3].tolist()
        torch.testing.assert_close(onnx["cls_logits"], expected[0], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(onnx["box_deltas"], expected[1], rtol=1e-4, atol=1e-4)
