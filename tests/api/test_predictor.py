"""The Python API's predictor: every kind of image a user holds gives the same detections, in batches
of any size, as torchvision-style dicts with the dataset's category ids and class names."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import detector
from detector.api.predictor import detection_records
from detector.inference.detector import load_detector
from detector.inference.predict import detect_images


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("photo")
    array = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    Image.fromarray(array).save(root / "noise.png")
    return root / "noise.png", array


def test_paths_pil_arrays_and_tensors_give_the_same_detections(tiny_checkpoint, photo):
    _, ckpt = tiny_checkpoint
    path, array = photo
    model = detector.load(ckpt, overrides=["inference.max_detections=20", "inference.score_thresh=0"])
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    inputs = [path, str(path), Image.open(path), array, array.astype(np.float32) / 255, tensor, tensor.float() / 255]
    reference = detect_images(load_detector(ckpt, ["inference.max_detections=20", "inference.score_thresh=0"]), [path])[0][0]
    assert len(reference["scores"]) == 20
    for batch_size in (1, 3, 8):
        got = model.predict(inputs, batch_size=batch_size)
        assert len(got) == len(inputs)
        for p in got:
            assert set(p) == {"boxes", "scores", "labels", "names", "file"}
            assert p["boxes"].dtype == torch.float32 and p["boxes"].shape == (20, 4)
            torch.testing.assert_close(p["boxes"], reference["boxes"], rtol=0, atol=1e-4)
            torch.testing.assert_close(p["scores"], reference["scores"], rtol=0, atol=1e-6)
            assert p["labels"].tolist() == [[1, 2, 3][j] for j in reference["labels"].tolist()]  # category ids
            assert p["names"] == [model.class_names[j] for j in reference["labels"].tolist()]
    single = model(path)  # one image in, a list of one out
    assert len(single) == 1
    torch.testing.assert_close(single[0]["boxes"], reference["boxes"], rtol=0, atol=1e-4)
    assert (got[0]["boxes"][:, 2] <= 90 + 1e-3).all() and (got[0]["boxes"][:, 3] <= 60 + 1e-3).all()  # own pixels


def test_score_thresh_applies_to_one_call_only(tiny_checkpoint, photo):
    model = detector.load(tiny_checkpoint[1])
    everything = model.predict(photo[0], score_thresh=0.0)[0]
    cut = float(everything["scores"].median())
    kept = model.predict(photo[0], score_thresh=cut)[0]
    assert len(kept["scores"]) < len(everything["scores"]) and (kept["scores"] > cut).all()
    assert model.detector.postprocess.score_thresh == 0.05  # the configured threshold is back


def test_records_are_coco_style_in_original_pixels(tiny_checkpoint, photo):
    model = detector.load(tiny_checkpoint[1], overrides=["inference.score_thresh=0"])
    predictions = model.predict([photo[0], photo[1]])
    records = detection_records(predictions, min_score=0.0)
    assert len(records) == sum(len(p["scores"]) for p in predictions)
    first = records[0]
    box = predictions[0]["boxes"][0].tolist()
    assert first["file"] == str(photo[0]) and first["image_id"] == 0
    assert first["bbox"] == [round(v, 2) for v in (box[0], box[1], box[2] - box[0], box[3] - box[1])]
    assert records[-1]["file"] == "" and records[-1]["image_id"] == 1  # an array has no file name


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 2), np.uint8), r"must be \(H, W\), \(H, W, 3\)"),
    (np.zeros((0, 4, 3), np.uint8), "got shape"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.full((4, 4, 3), 300, np.int32), "0..255"),
    (np.zeros((4, 4, 3), bool), "uint8 or float"),
])
def test_an_unusable_array_is_named(tiny_checkpoint, bad, message):
    with pytest.raises(ValueError, match=message):
        detector.load(tiny_checkpoint[1]).predict(bad)


def test_a_folder_or_a_glob_is_its_images_and_a_bad_file_is_left_out(tiny_checkpoint, photo, tmp_path):
    """Before, predict("photos/") raised "OSError: Is a directory" and one bad file stopped the call."""
    model = detector.load(tiny_checkpoint[1], overrides=["inference.max_detections=3", "inference.score_thresh=0"])
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(photo[0]).save(folder / "a.png")
    Image.open(photo[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "c.jpg")
    (folder / "b.jpg").write_text("not an image")
    listed = [folder / "a.png", folder / "c.jpg"]
    reference = model.predict(listed)
    assert [p["file"] for p in reference] == [str(f) for f in listed]
    cases = [(folder, ["a.png", "c.jpg"]), (str(folder), ["a.png", "c.jpg"]), (str(folder / "*.*"), ["a.png", "c.jpg"]),
             (str(tmp_path / "**" / "*.png"), ["a.png"])]  # the last glob does not reach the bad file
    for source, names in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = model.predict(source)
        assert [Path(p["file"]).name for p in got] == names
        messages = [str(w.message) for w in caught if "left out" in str(w.message)]
        assert len(messages) == (0 if len(names) == 1 else 1)
        assert all(f"image file '{folder / 'b.jpg'}' cannot be decoded" in m for m in messages)
        for p in got:
            e = reference[[r["file"] for r in reference].index(p["file"])]
            torch.testing.assert_close(p["boxes"], e["boxes"], rtol=0, atol=1e-4)  # batches of other sizes
            torch.testing.assert_close(p["scores"], e["scores"], rtol=0, atol=1e-6)
    assert model.skipped == []  # the last call read every file it was given
    model.predict(folder)
    assert [(Path(f).name, "cannot be decoded" in why) for f, why in model.skipped] == [("b.jpg", True)]
    with pytest.raises(OSError, match="b.jpg' cannot be decoded"):
        model.predict(folder, on_bad_image="error")


def test_an_unknown_input_type_says_what_to_give(tiny_checkpoint):
    with pytest.raises(TypeError, match="give a path, a PIL image, a numpy array or a torch tensor"):
        detector.load(tiny_checkpoint[1]).predict({"not": "an image"})
