"""Training-quality augmentation: the box-safe crop keeps every box and zooms; multi-scale training
draws a size per step from (seed, step) alone and scales the boxes with the pixels; a mosaic's boxes
frame their own pixels, slivers are dropped, and the training items are seeded."""

import numpy as np
import pytest
import torch

from detector.core.config import AugmentConfig, ConfigError, load_config
from detector.data.build import build_dataset
from detector.data.mosaic import mosaic
from detector.data.transforms import SIZE_STEP, DetectionTransform, multiscale_size, rescale_batch
from tests.conftest import tiny_config


def test_box_safe_crop_keeps_every_box_and_zooms_in():
    image = np.zeros((100, 200, 3), np.uint8)
    boxes = np.array([[60, 30, 90, 60], [100, 40, 120, 70]], np.float32)
    labels, crowd = np.array([1, 2]), np.array([False, True])
    plain = DetectionTransform(AugmentConfig(image_size=64, hflip_prob=0.0), train=True)
    _, plain_boxes, _, _, _ = plain(image, boxes, labels, crowd)
    crop = DetectionTransform(AugmentConfig(image_size=64, hflip_prob=0.0, crop_prob=1.0), train=True)
    widths = []
    for seed in range(20):
        out, got, got_labels, got_crowd, _ = crop(image, boxes, labels, crowd, seed=seed)
        assert out.shape == (3, 64, 64)
        assert got_labels.tolist() == [1, 2] and got_crowd.tolist() == [False, True]  # nothing cut away
        assert (got >= 0).all() and (got <= 64).all()
        widths.append(float(got[0, 2] - got[0, 0]))
    assert min(widths) >= float(plain_boxes[0, 2] - plain_boxes[0, 0]) - 1e-3  # never smaller than uncropped
    assert max(widths) > 1.5 * float(plain_boxes[0, 2] - plain_boxes[0, 0])  # objects come out larger
    again = crop(image, boxes, labels, crowd, seed=7)[1]
    assert torch.equal(again, crop(image, boxes, labels, crowd, seed=7)[1])  # reproducible by seed
    evaluation = DetectionTransform(AugmentConfig(image_size=64, crop_prob=1.0), train=False)
    assert evaluation.crop is None


def test_multiscale_size_is_drawn_from_seed_and_step_only():
    assert multiscale_size((96, 128), [1.0, 1.0], 0, 5) is None  # off
    sizes = [multiscale_size((320, 320), [0.5, 1.5], 0, step) for step in range(200)]
    assert all(s is not None and s[0] == s[1] and s[0] % SIZE_STEP == 0 and 160 <= s[0] <= 480 for s in sizes)
    assert len(set(sizes)) >= 8  # the range is used
    assert sizes == [multiscale_size((320, 320), [0.5, 1.5], 0, step) for step in range(200)]  # resume draws the same
    assert sizes != [multiscale_size((320, 320), [0.5, 1.5], 1, step) for step in range(200)]
    assert multiscale_size((20, 20), [0.5, 0.5], 0, 0) == (SIZE_STEP, SIZE_STEP)  # never below one step


def test_rescaled_boxes_frame_the_rescaled_pixels():
    images = torch.zeros(2, 3, 64, 96)
    images[0, :, 16:48, 24:72] = 1.0  # the object of box [24, 16, 72, 48]
    boxes = torch.tensor([[[24.0, 16.0, 72.0, 48.0]], [[0.0, 0.0, 10.0, 10.0]]])
    out, scaled = rescale_batch(images, boxes, (96, 128))
    assert out.shape == (2, 3, 96, 128)
    ys, xs = torch.nonzero(out[0, 0] > 0.5, as_tuple=True)
    torch.testing.assert_close(scaled[0, 0], torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float())
    torch.testing.assert_close(scaled[1, 0], torch.tensor([0.0, 0.0, 10 * 128 / 96, 15.0]))


@pytest.mark.parametrize("override, message", [
    ("augment.scale_range=[1.2,0.8]", "augment.scale_range"),
    ("augment.scale_range=[1.0]", "augment.scale_range"),
    ("augment.crop_prob=1.5", "augment.crop_prob"),
    ("augment.mosaic_prob=1.5", "augment.mosaic_prob must be a probability"),
    ("augment.mosaic_prob=0.5 augment.resize=shortest_edge", r"set augment.mosaic_prob=0 to use shortest_edge"),
    ("recipe=scratch augment.resize=shortest_edge", r"augment.mosaic_prob=0.5 needs augment.resize=letterbox"),
    ("matcher.topk=0", "matcher.topk"),
])
def test_bad_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override.split())


class FixedCentre:
    """A stand-in generator whose integers() is the mosaic centre."""

    def __init__(self, cx: int, cy: int) -> None:
        self.centre = np.array([cx, cy])

    def integers(self, *args, **kwargs):
        return self.centre


def painted(h: int, w: int, box: list[int], value: int):
    image = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = value
    return image, np.array([box], np.float32), np.array([value]), np.array([False])


def test_mosaic_boxes_frame_their_pixels_and_slivers_are_dropped():
    parts = [painted(40, 80, [10, 5, 70, 35], 1), painted(80, 40, [5, 10, 35, 70], 2),
             painted(64, 64, [0, 0, 64, 64], 3), painted(32, 32, [8, 8, 24, 24], 4)]
    image, boxes, labels, crowd = mosaic(parts, 64, FixedCentre(40, 30))
    assert image.shape == (64, 64, 3) and crowd.dtype == bool and not crowd.any()
    for box, label in zip(boxes.round().astype(int).tolist(), labels.tolist()):
        x0, y0, x1, y1 = box
        assert (image[y0:y1, x0:x1] == label).all()  # every kept box holds its own image's object
    # visible: part 1 32 x 24 of 48 x 24 px (67%), part 2 20 x 22 of 24 x 48 (38%), part 3 40 x 34 of 64 x 64
    # (33%); part 4 (32 px scaled to 64, bottom right of the centre) 8 x 18 of 32 x 32 (14%): a sliver
    assert sorted(labels.tolist()) == [1, 2, 3]
    assert sorted(mosaic(parts, 64, FixedCentre(40, 30), min_visible=0.1)[2].tolist()) == [1, 2, 3, 4]
    _, _, labels, _ = mosaic(parts, 64, FixedCentre(60, 60))  # top-left part fills most; the others are slivers
    assert 1 in labels.tolist() and 4 not in labels.tolist()  # part 4's box would show 0 px: dropped
    again = mosaic(parts, 64, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(again, mosaic(parts, 64, np.random.default_rng(3))))


def test_mosaic_training_items_are_seeded_and_mix_images(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.augment.mosaic_prob, cfg.augment.hflip_prob = 1.0, 0.0
    data = build_dataset(cfg, "train")
    assert build_dataset(cfg, "val").mosaic_prob == 0.0  # evaluation never
    data.augment_seed = 0
    image, target = data[0, 1]
    assert image.shape[-2:] == (cfg.augment.image_size, cfg.augment.image_size)
    again, target_again = data[0, 1]
    assert torch.equal(image, again) and torch.equal(target["boxes"], target_again["boxes"])
    assert not torch.equal(image, data[1, 1][0])  # another epoch, another mosaic
    plain = build_dataset(tiny_config(tmp_path), "train")
    counts = [len(data[0, i][1]["boxes"]) for i in range(4)]
    assert counts != [len(plain[i][1]["boxes"]) for i in range(4)]  # boxes come from other images too
