"""Images as people have them all load as (H, W, 3) uint8 RGB; bad files are clear errors."""

import numpy as np
import pytest
from PIL import Image

from detector.data.images import image_size, load_rgb


def test_grayscale_rgba_palette_and_cmyk(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    assert np.array_equal(load_rgb(tmp_path / "g.png"), np.repeat(gray[..., None], 3, axis=2))
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 7
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_rgb(tmp_path / "a.png")
    assert out.shape == (3, 4, 3) and (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()
    pal = Image.new("P", (4, 3))
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png")
    out = load_rgb(tmp_path / "p.png")
    assert out[1, 1].tolist() == [10, 20, 30] and out[0, 0].tolist() == [0, 0, 0]
    Image.new("CMYK", (4, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    out = load_rgb(tmp_path / "c.jpg")
    assert out.shape == (3, 4, 3) and out[..., 0].mean() > 200 and out[..., 1].mean() < 60


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100], [65535, 257 * 10]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    out = load_rgb(tmp_path / "deep.png")
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[..., 0].tolist() == [[0, 100], [255, 10]]


def test_extension_does_not_matter(tmp_path):
    Image.fromarray(np.full((5, 6, 3), 40, np.uint8)).save(tmp_path / "really_png.jpg", format="PNG")
    assert image_size(tmp_path / "really_png.jpg") == (6, 5)
    assert load_rgb(tmp_path / "really_png.jpg").tolist() == np.full((5, 6, 3), 40).tolist()


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.jpg' does not exist"):
        load_rgb(tmp_path / "nothere.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(OSError, match="junk.jpg' cannot be decoded"):
        load_rgb(tmp_path / "junk.jpg")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="cut.png' cannot be decoded"):
        load_rgb(tmp_path / "cut.png")
