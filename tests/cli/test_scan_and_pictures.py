"""The scan command, COCO export, a training run that survives bad files, and the pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import evaluate
import train
from detector.cli.main import main as cli
from detector.core.config import load_config
from detector.data.build import build_dataset
from detector.evaluation.draw import class_colors, draw_boxes, ground_truth_grid
from detector.evaluation.figures import confusion_matrix
from tests.conftest import TINY_RUN, prepare, truncate

# the shared tiny run, in batches of 2 through a loader worker process (bad files must not kill it)
TINY = [*TINY_RUN, "train.batch_size=2", "train.num_workers=1", "solver.max_iters=3", "train.checkpoint_period=3"]


def shapes_csv(root: Path, n: int = 10) -> Path:
    """``n`` 96 px images with a bright square ("box") and, on odd images, a disc ("disc")."""
    rows = []
    for i in range(n):
        pixels = np.full((96, 96, 3), 40, np.uint8)
        pixels[10 + i:40 + i, 20:50] = 220
        rows.append(f"img/{i}.jpg,20,{10 + i},50,{40 + i},box")
        if i % 2:
            pixels[60:80, 60:80] = 160
            rows.append(f"img/{i}.jpg,60,60,80,80,disc")
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "img" / f"{i}.jpg", quality=95)
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    return root / "boxes.csv"


def test_training_on_bad_files_finishes_and_reports(tmp_path, capsys):
    csv_file = shapes_csv(tmp_path / "ds")
    truncate(tmp_path / "ds" / "img" / "3.jpg")
    (tmp_path / "ds" / "img" / "4.jpg").write_bytes(b"GIF89a garbage")  # undecodable
    run = tmp_path / "run"
    code = train.main(["data.dataset=csv", f"data.train_annotations={csv_file}", "data.val_fraction=0.3",
                       f"train.output_dir={run}", *TINY])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "unreadable_image x1" in out and "truncated_image x1" in out  # the summary, before step 1
    report = (run / "data_report.txt").read_text()
    assert "4.jpg" in report and "3.jpg" in report
    split = json.loads((run / "split.json").read_text())
    assert len(split["val"]) == 3 and sorted(split["val"] + split["train"]) == sorted(f"img/{i}.jpg" for i in range(10))
    saved = load_config(run / "config.yaml")
    assert saved.data.split_file == str(run / "split.json") and saved.data.class_names == ["box", "disc"]
    for name in ("pr_curves.png", "confusion_matrix.png", "metrics.json"):
        assert (run / name).is_file(), name
    # evaluate.py finds the same held-out split through the saved config
    assert evaluate.main(["--checkpoint", str(run / "last.pt"), "--output", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "confusion_matrix.png").is_file()
    detections = json.loads((tmp_path / "ev" / "detections.json").read_text())
    held_out_ids = {i + 1 for i, name in enumerate(sorted(split["train"] + split["val"])) if name in split["val"]}
    assert {d["image_id"] for d in detections} <= held_out_ids
    strict = train.main(["data.dataset=csv", f"data.train_annotations={csv_file}", "data.val_fraction=0.3",
                         "data.on_bad_image=error", f"train.output_dir={tmp_path / 'strict'}", *TINY])
    assert strict == 1 and "4.jpg" in capsys.readouterr().err  # data errors exit 1, as focaldet scan does


def test_image_broken_after_the_scan_is_skipped_with_a_warning(tmp_path):
    csv_file = shapes_csv(tmp_path, 4)
    cfg = load_config(None, ["data.dataset=csv", f"data.train_annotations={csv_file}", "augment.image_size=96"])
    dataset = build_dataset(cfg, "train", train_transforms=False)
    (tmp_path / "img" / "1.jpg").unlink()
    with pytest.warns(UserWarning, match="1.jpg' does not exist; using the next image"):
        _, target = dataset[1]
    assert target["image_id"] == dataset.image_ids[2]
    dataset.on_bad_image = "error"
    with pytest.raises(FileNotFoundError, match="1.jpg"):
        dataset[1]


def test_scan_command_report_grid_and_coco_export_round_trip(tmp_path, capsys):
    csv_file = shapes_csv(tmp_path / "ds", 6)
    out, coco_dir = tmp_path / "scan", tmp_path / "coco"
    assert cli(["scan", "data.dataset=csv", f"data.train_annotations={csv_file}", "--output", str(out),
                "--grid", "4", "--tile", "128", "--to-coco", str(coco_dir)]) == 0
    printed = capsys.readouterr().out
    assert "train: 6 images (0 without boxes), boxes: box 6, disc 3" in printed
    grid = np.asarray(Image.open(out / "gt_grid_train.png"))
    assert grid.shape == (2 * 128 + 3 * 4, 2 * 128 + 3 * 4, 3)
    assert json.loads((out / "data_report.json").read_text())["splits"][0]["images"] == 6
    exported = json.loads((coco_dir / "train.json").read_text())
    images_root = exported["info"]["images_root"]
    again, _ = prepare(load_config(None, ["data.dataset=coco", f"data.train_images={images_root}",
                                          f"data.train_annotations={coco_dir / 'train.json'}"]))
    original, _ = prepare(load_config(None, ["data.dataset=csv", f"data.train_annotations={csv_file}"]))
    assert [a["bbox"] for a in again["train"]["annotations"]] == [a["bbox"] for a in original["train"]["annotations"]]
    (tmp_path / "ds" / "boxes.csv").write_text("img/0.jpg,1,1,5,5,box\nimg/0.jpg,1,1,nan,5,box\n")
    assert cli(["scan", "data.dataset=csv", f"data.train_annotations={csv_file}", "--output", str(out), "--grid", "0"]) == 1
    assert "row 2" in capsys.readouterr().err


def test_boxes_get_class_colours_and_filled_label_tags():
    image = torch.zeros((3, 120, 160), dtype=torch.uint8)
    drawn = draw_boxes(image, torch.tensor([[10.0, 40, 70, 100], [80, 40, 150, 100]]), torch.tensor([0, 1]),
                       ["cat", "dog"], torch.tensor([0.9, 0.5]))
    colors = class_colors(2)
    assert colors[0] != colors[1]
    # the left edge of each box is drawn in its class colour
    assert tuple(drawn[:, 70, 10].tolist()) == colors[0] and tuple(drawn[:, 70, 80].tolist()) == colors[1]
    # the tag above-inside each box is filled with the class colour (readable on any background)
    tag = drawn[:, 41:48, 11:30].reshape(3, -1)
    assert (tag == torch.tensor(colors[0])[:, None]).all(dim=0).float().mean() > 0.3


def test_ground_truth_grid_draws_every_chosen_image(tmp_path):
    csv_file = shapes_csv(tmp_path, 3)
    cfg = load_config(None, ["data.dataset=csv", f"data.train_annotations={csv_file}"])
    grid = ground_truth_grid(build_dataset(cfg, "train", train_transforms=False), count=3, tile=64)
    assert grid.shape == (3, 2 * 64 + 3 * 4, 2 * 64 + 3 * 4) and grid.dtype == torch.uint8
    box_color = torch.tensor(class_colors(2)[0])
    first = grid[:, 4:68, 4:68]
    assert (first == box_color[:, None, None]).all(dim=0).any()  # its box is drawn in the class colour


def test_confusion_matrix_counts_confusions_misses_and_false_detections():
    det = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [90, 90, 99, 99]]),
            "scores": torch.tensor([0.9, 0.8, 0.7, 0.1]), "labels": torch.tensor([0, 1, 0, 1])}]
    truth = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30], [70, 70, 80, 80], [50, 50, 60, 61]], np.float32),
              np.array([0, 0, 1, 1]), np.array([False, False, False, True]))]
    matrix = confusion_matrix(det, truth, num_classes=2, iou=0.5, min_score=0.3)
    expected = np.array([[1, 0, 0],   # cat predicted: 1 right; the one on a crowd box is not counted
                         [1, 0, 0],   # dog predicted on a cat: a confusion
                         [0, 1, 0]])  # missed: the dog at 70..80; the 0.1 detection is below min_score
    np.testing.assert_array_equal(matrix, expected)
