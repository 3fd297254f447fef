"""Images without annotations (inference on new photos, files or arrays), in the training data contract."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from detector.data.files import image_files
from detector.data.images import IMAGE_SUFFIXES, as_rgb, is_image_file
from detector.data.transforms import DetectionTransform

GLOB_CHARACTERS = ("*", "?", "[")


def image_paths(source: str | Path) -> list[Path]:
    """An image file, a folder of images (sorted), a glob (``photos/*.jpg``, ``photos/**/*.png``; its
    image files, sorted), or a text file listing one path per line (relative to the list's folder)."""
    path = Path(source)
    if not path.exists() and any(c in str(source) for c in GLOB_CHARACTERS):
        matches = sorted(Path(m) for m in glob.glob(str(source), recursive=True))
        files = [m for m in matches if m.is_file() and is_image_file(m)]
        if not files:
            raise FileNotFoundError(f"glob '{source}' matches no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if path.is_dir():
        files = image_files(path, recursive=False)
        if not files:
            raise FileNotFoundError(f"folder '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"input '{path}' does not exist")
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return [Path(line) if Path(line).is_absolute() else path.parent / line for line in lines]
    return [path]


class ImageFiles(Dataset):
    """Items ``(image (3, H, W), target)`` with empty boxes; ``image_id`` is the position in ``images``.
    ``images`` are paths, PIL images, arrays or tensors (``data.images.as_rgb``), read one at a time.

    ``skip_unreadable`` (``data.on_bad_image=skip``): a file that cannot be read gives the item
    ``(None, {"image_id", "error"})`` instead of raising, for the caller to list and leave out.
    """

    def __init__(self, images: list[Any], transform: DetectionTransform, skip_unreadable: bool = False) -> None:
        self.files = images
        self.transform = transform
        self.skip_unreadable = skip_unreadable

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor | None, dict[str, Any]]:
        source = self.files[index]
        try:
            image = as_rgb(source)
        except OSError as exc:  # missing, a folder, undecodable: only files are skipped, never arrays
            if not (self.skip_unreadable and isinstance(source, (str, Path))):
                raise
            return None, {"image_id": index, "error": str(exc) if str(source) in str(exc) else f"'{source}': {exc}"}
        tensor, scale = self.transform.image_only(image)
        return tensor, {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.long),
                        "crowd": torch.zeros(0, dtype=torch.bool), "image_id": index,
                        "orig_size": image.shape[:2], "scale": scale}
