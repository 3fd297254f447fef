"""focaldet detect: a checkpoint on an image, a folder or a list -> COCO-style JSON and drawn images."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

import detector
from detector.api.predictor import detection_records
from detector.cli.main import main as cli


def test_detect_file_folder_and_list(tmp_path, capsys, tiny_checkpoint):
    cfg, ckpt = tiny_checkpoint
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((50, 70, 3), 90, np.uint8)).save(photos / "wide.jpg")
    Image.fromarray(np.full((80, 40), 200, np.uint8)).save(photos / "tall_gray.png")
    (tmp_path / "list.txt").write_text("photos/wide.jpg\nphotos/tall_gray.png\n")

    for source, count in ((photos / "wide.jpg", 1), (photos, 2), (tmp_path / "list.txt", 2)):
        out = tmp_path / f"out_{count}_{source.suffix or 'dir'}"
        assert cli(["detect", "--checkpoint", str(ckpt), "--input", str(source), "--output", str(out),
                    "--score-thresh", "0.0", "inference.max_detections=5"]) == 0
        results = json.loads((out / "detections.json").read_text())
        assert len({r["file"] for r in results}) == count and len(results) == 5 * count
        r = results[0]
        assert r["category_id"] in (1, 2, 3) and r["category"] in cfg.data.synthetic.classes
        assert set(r) == {"file", "image_id", "category_id", "category", "score", "bbox"}
        drawn = sorted(p.name for p in out.glob("*.png"))
        assert len(drawn) == count
    wide = [r for r in results if r["file"].endswith("wide.jpg")]
    for r in wide:  # boxes come back in original pixels (70 x 50), not the 96 px model input
        x, y, w, h = r["bbox"]
        assert -0.01 <= x and x + w <= 70.01 and -0.01 <= y and y + h <= 50.01
    assert Image.open(out / "wide.png").size == (70, 50)


def test_detect_bad_input_is_a_clear_error(tmp_path, capsys, tiny_checkpoint):
    (tmp_path / "model.pt").write_bytes(tiny_checkpoint[1].read_bytes())
    assert cli(["detect", "--checkpoint", str(tmp_path / "model.pt"), "--input", str(tmp_path / "nope")]) == 2
    assert "input '" in capsys.readouterr().err
    (tmp_path / "bad.jpg").write_text("text")
    assert cli(["detect", "--checkpoint", str(tmp_path / "model.pt"), "--input", str(tmp_path / "bad.jpg"),
                "--output", str(tmp_path / "o")]) == 2
    assert "bad.jpg' cannot be decoded" in capsys.readouterr().err


def test_detect_skips_an_undecodable_image_and_lists_it(tmp_path, capsys, tiny_checkpoint):
    """As training does (data.on_bad_image=skip): before, the first bad file stopped detect with nothing written."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "c.png"):
        Image.fromarray(np.full((50, 70, 3), 90, np.uint8)).save(photos / name)
    (photos / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert cli(["detect", "--checkpoint", str(tiny_checkpoint[1]), "--input", str(photos), "--output", str(out),
                "--score-thresh", "0", "inference.max_detections=2"]) == 0
    results = json.loads((out / "detections.json").read_text())
    assert {Path(r["file"]).name for r in results} == {"a.jpg", "c.png"}
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "c.png"]
    [line] = (out / "skipped.txt").read_text().splitlines()
    assert line.startswith(str(photos / "b.jpg")) and "cannot be decoded" in line
    printed = capsys.readouterr().out
    assert "1 of 3 images could not be read" in printed and str(out / "skipped.txt") in printed
    assert cli(["detect", "--checkpoint", str(tiny_checkpoint[1]), "--input", str(photos), "--output", str(out),
                "data.on_bad_image=error"]) == 2
    assert "b.jpg' cannot be decoded" in capsys.readouterr().err


def test_detect_takes_a_glob_and_the_one_default_threshold(tmp_path, tiny_checkpoint):
    """--score-thresh defaults to inference.score_thresh, as Predictor.predict (it was 0.3 against 0.05)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((50, 70, 3), 90, np.uint8)).save(photos / "a.jpg")
    Image.fromarray(np.full((40, 40, 3), 30, np.uint8)).save(photos / "b.png")
    (photos / "notes.txt").write_text("not an image")
    out, low = tmp_path / "out", "inference.score_thresh=0.009"  # the untrained model scores about 0.01
    assert cli(["detect", "--checkpoint", str(tiny_checkpoint[1]), "--input", str(photos / "*.*"),
                "--output", str(out), "--no-draw", low]) == 0
    results = json.loads((out / "detections.json").read_text())
    model = detector.load(tiny_checkpoint[1], overrides=[low])
    expected = detection_records(model.predict(str(photos / "*.*")))
    assert len(results) == len(expected) > 0 and {Path(r["file"]).name for r in results} == {"a.jpg", "b.png"}
    assert results == json.loads(json.dumps(expected))
