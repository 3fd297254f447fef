"""Images as people have them -> (H, W, 3) uint8 RGB, decoded by content, not by extension.

A *truncated* file (the download or copy stopped early) decodes partially, as image viewers show
it: the missing rows come out grey, with a warning. A photo with an EXIF orientation is turned
upright, as viewers, detectron2 and Ultralytics show it, so boxes are read in that frame. A file
that cannot be decoded at all is an ``OSError`` naming it; ``check_image`` tells the two apart
before training (``detector.data.scan``).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
ORIENTATION_TAG = 0x0112  # EXIF; values 5..8 swap width and height
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# what PIL calls the format -> the file suffixes that name it honestly
FORMAT_SUFFIXES = {"JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "PNG": (".png",), "BMP": (".bmp",),
                   "TIFF": (".tif", ".tiff"), "WEBP": (".webp",), "GIF": (".gif",), "MPO": (".jpg", ".jpeg")}


def set_pixel_limit(pixels: int) -> None:
    """Refuse images of more than ``pixels`` pixels (``data.max_image_pixels``; 0 = no limit). The
    check is PIL's decompression-bomb check, which raises at twice its ``Image.MAX_IMAGE_PIXELS`` (and
    warns from once): the default, 178 956 970 pixels, is PIL's own. Process-wide, as PIL's setting is;
    loader workers started by fork inherit it."""
    Image.MAX_IMAGE_PIXELS = pixels // 2 if pixels > 0 else None


def _too_large(exc: Exception) -> str:
    return f"{exc} Raise data.max_image_pixels (0 = no limit) to use images this large."


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)  # PIL sniffs the format from the bytes
    except FileNotFoundError:
        raise FileNotFoundError(f"image file '{path}' does not exist") from None
    except Image.DecompressionBombError as exc:
        raise OSError(f"image file '{path}' is too large to decode: {_too_large(exc)}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:  # ValueError: e.g. a NUL in the name
        raise OSError(f"image file '{path}' cannot be decoded as an image: {exc}") from None


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation 1..8; a missing, broken or out-of-range value (0, 65537, ...) is 1, as
    viewers and ``ImageOps.exif_transpose`` treat it: nothing is turned."""
    try:
        value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except (ValueError, TypeError, OSError, SyntaxError):  # a broken EXIF block is no orientation
        return 1
    return value if 1 <= value <= 8 else 1


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) upright (EXIF orientation applied), from the header, without decoding the pixels."""
    with _open(Path(path)) as im:
        return im.size[::-1] if _orientation(im) in (5, 6, 7, 8) else im.size


def _to_rgb(im: Image.Image) -> np.ndarray:
    if _orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    if im.mode in HIGH_BIT_MODES:
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if im.mode == "F" and arr.max(initial=0) <= 1.0:
            top = 1.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.array(im.convert("RGB"))


def _decode_truncated(path: Path) -> np.ndarray:
    """Decode what a truncated file holds; PIL's switch is process-wide, so it is set only here."""
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with _open(path) as im:
            return _to_rgb(im)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def load_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from grayscale, RGBA, palette, CMYK, 16-bit or float images.

    16-bit and float images are scaled by their type's range (65535 for 16-bit; float assumed 0..1
    unless larger), not clipped, so a 16-bit scan does not come out white. Alpha is dropped.
    A truncated file loads partially with a warning; an undecodable one raises ``OSError``.
    """
    path = Path(path)
    with _open(path) as im:
        try:
            return _to_rgb(im)
        except OSError as exc:  # truncated or corrupt pixel data
            error = exc
    try:
        image = _decode_truncated(path)
    except OSError:
        raise OSError(f"image file '{path}' cannot be decoded: {error}") from None
    warnings.warn(f"image file '{path}' is truncated ({error}); loaded the part that is there", stacklevel=2)
    return image


@dataclass(frozen=True)
class ImageInfo:
    """What one file holds. ``status``: ok | truncated (decodes partially) | unreadable | missing."""

    status: str
    width: int = 0
    height: int = 0
    format: str = ""  # PIL's name for the content, e.g. "JPEG", "WEBP"
    digest: str = ""  # of the bytes, to find duplicate files
    detail: str = ""  # the decoder's message for truncated and unreadable files
    orientation: int = 1  # EXIF orientation; width and height above are upright (after it)
    over_limit: bool = False  # refused by the pixel limit (set_pixel_limit): judged again under another limit

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "truncated")

    def misnamed(self, path: Path) -> bool:
        """Content in another format than the suffix says (a WebP or PNG named .jpg)."""
        return self.usable and path.suffix.lower() not in FORMAT_SUFFIXES.get(self.format, (path.suffix.lower(),))


def _decode_all(data: bytes) -> None:
    """Decode every pixel (JPEGs at 1/8 scale: the whole entropy-coded stream is still read, so
    truncation and corruption are found, at a fraction of the cost)."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max(im.width // 8, 1), max(im.height // 8, 1)))
        im.load()


def check_image(path: str | Path) -> ImageInfo:
    """Read and fully decode one file; never raises for a bad image, says what it is instead."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ImageInfo("missing", detail="file does not exist")
    except (OSError, ValueError) as exc:
        return ImageInfo("unreadable", detail=str(exc))
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height, fmt, turn = im.width, im.height, im.format or "", _orientation(im)
        if turn in (5, 6, 7, 8):
            width, height = height, width
    except UnidentifiedImageError:
        return ImageInfo("unreadable", digest=digest, detail="not an image format PIL knows")
    except Image.DecompressionBombError as exc:  # before decoding a byte of it
        return ImageInfo("unreadable", digest=digest, detail=_too_large(exc), over_limit=True)
    except (OSError, ValueError) as exc:
        return ImageInfo("unreadable", digest=digest, detail=str(exc) or "not an image")
    try:
        _decode_all(data)
        return ImageInfo("ok", width, height, fmt, digest, orientation=turn)
    except (OSError, ValueError, SyntaxError) as exc:
        error = str(exc)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        _decode_all(data)
        return ImageInfo("truncated", width, height, fmt, digest, error, turn)
    except (OSError, ValueError, SyntaxError) as exc:
        return ImageInfo("unreadable", width, height, fmt, digest, f"{error}; {exc}", turn)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def as_rgb(image: Any) -> np.ndarray:
    """Any image a user holds -> (H, W, 3) uint8 RGB: a file path (``load_rgb``), a PIL image (EXIF
    orientation applied, as for files), a numpy array (H, W) / (H, W, 3) / (H, W, 4), uint8 or float
    in [0, 1], RGB as PIL and torchvision have it (OpenCV's BGR must be flipped first), or a torch
    tensor (3, H, W) / (1, H, W) / (H, W), uint8 or float in [0, 1] (torchvision's convention)."""
    if isinstance(image, (str, Path)):
        return load_rgb(image)
    if isinstance(image, Image.Image):
        return _to_rgb(image)
    if hasattr(image, "detach") and hasattr(image, "permute"):  # a torch tensor, without importing torch here
        tensor = image.detach().cpu()
        if tensor.ndim == 3:
            tensor = tensor.permute(1, 2, 0)
        image = tensor.numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"cannot read an image from a {type(image).__name__}: give a path, a PIL image, "
                        f"a numpy array or a torch tensor")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4) (tensors: (3, H, W)); "
                         f"got shape {tuple(image.shape)}")
    image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.bool_ or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"an image array must be uint8 or float in [0, 1]; got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.integer):
        if image.min(initial=0) < 0 or image.max(initial=0) > 255:
            raise ValueError(f"an integer image array must hold 0..255; got {image.min()}..{image.max()}")
        return image.astype(np.uint8)
    if not np.isfinite(image).all():
        raise ValueError("an image array holds NaN or infinite values")
    return (np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
