"""Images as people have them -> (H, W, 3) uint8 RGB, decoded by content, not by extension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)  # PIL sniffs the format from the bytes
    except FileNotFoundError:
        raise FileNotFoundError(f"image file '{path}' does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise OSError(f"image file '{path}' cannot be decoded as an image: {exc}") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with _open(Path(path)) as im:
        return im.size


def load_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from grayscale, RGBA, palette, CMYK, 16-bit or float images.

    16-bit and float images are scaled by their type's range (65535 for 16-bit; float assumed 0..1
    unless larger), not clipped, so a 16-bit scan does not come out white. Alpha is dropped.
    """
    path = Path(path)
    with _open(path) as im:
        try:
            if im.mode in HIGH_BIT_MODES:
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
                if im.mode == "F" and arr.max(initial=0) <= 1.0:
                    top = 1.0
                gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            return np.array(im.convert("RGB"))
        except OSError as exc:  # truncated or corrupt pixel data
            raise OSError(f"image file '{path}' cannot be decoded: {exc}") from None
