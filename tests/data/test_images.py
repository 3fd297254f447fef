"""Images as people have them all load as (H, W, 3) uint8 RGB; bad files are clear errors."""

import numpy as np
import pytest
from PIL import Image

from detector.data.images import check_image, image_size, load_rgb


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
    with pytest.warns(UserWarning, match="cut.png' is truncated"):  # as image viewers show it
        assert load_rgb(tmp_path / "cut.png").shape == (64, 64, 3)
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "head.jpg")
    (tmp_path / "head.jpg").write_bytes((tmp_path / "head.jpg").read_bytes()[:200])  # header only
    with pytest.raises(OSError, match="head.jpg' cannot be decoded"):
        load_rgb(tmp_path / "head.jpg")


def test_check_image_tells_truncated_from_undecodable_and_names_the_content(tmp_path):
    noisy = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.fromarray(noisy).save(tmp_path / "webp.jpg", format="WEBP")
    Image.fromarray(noisy).save(tmp_path / "gif.jpg", format="GIF")
    ok, cut = check_image(tmp_path / "ok.jpg"), check_image(tmp_path / "cut.jpg")
    assert (ok.status, ok.width, ok.height, ok.format) == ("ok", 80, 60, "JPEG")
    assert cut.status == "truncated" and cut.usable and "truncated" in cut.detail
    assert check_image(tmp_path / "empty.jpg").status == "unreadable"
    assert check_image(tmp_path / "gone.jpg").status == "missing"
    webp = check_image(tmp_path / "webp.jpg")
    assert webp.format == "WEBP" and webp.misnamed(tmp_path / "webp.jpg") and not ok.misnamed(tmp_path / "ok.jpg")
    assert check_image(tmp_path / "gif.jpg").misnamed(tmp_path / "gif.jpg")
    assert ok.digest != cut.digest and ok.digest == check_image(tmp_path / "ok.jpg").digest
