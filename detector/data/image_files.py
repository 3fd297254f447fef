"""Images without annotations (inference on new photos, files or arrays), in the training data contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from detector.data.files import image_files
from detector.data.images import IMAGE_SUFFIXES, as_rgb
from detector.data.transforms import DetectionTransform


def image_paths(source: str | Path) -> list[Path]:
    """An image file, a folder of images (sorted), or a text file listing one path per line
    (relative to the list's folder)."""
    path = Path(source)
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
    ``images`` are paths, PIL images, arrays or tensors (``data.images.as_rgb``), read one at a time."""

    def __init__(self, images: list[Any], transform: DetectionTransform) -> None:
        self.files = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        image = as_rgb(self.files[index])
        tensor, scale = self.transform.image_only(image)
        return tensor, {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.long),
                        "crowd": torch.zeros(0, dtype=torch.bool), "image_id": index,
                        "orig_size": image.shape[:2], "scale": scale}
