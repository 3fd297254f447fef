"""Finding files the way people name them: any letter case, any image extension."""

from __future__ import annotations

from pathlib import Path

from detector.data.images import IMAGE_SUFFIXES, is_image_file


class FolderIndex:
    """The files of each folder by lower-case name; one listing per folder, kept."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, Path]] = {}

    def files(self, folder: Path) -> dict[str, Path]:
        if folder not in self._folders:
            try:
                self._folders[folder] = {p.name.lower(): p for p in folder.iterdir() if _file_or_link(p)}
            except (FileNotFoundError, NotADirectoryError):
                self._folders[folder] = {}
        return self._folders[folder]

    def find(self, folder: Path, name: str) -> Path | None:
        return self.files(folder).get(name.lower())

    def find_image(self, folders: list[Path], names: list[str]) -> Path | None:
        """The first of ``names`` found in ``folders`` (any case); a name without an image
        extension is tried with each one (``img1`` -> ``img1.JPG``)."""
        for folder in folders:
            for name in names:
                if not name:
                    continue
                if is_image_file(Path(name)) and (hit := self.find(folder, name)):
                    return hit
                for suffix in IMAGE_SUFFIXES:
                    if hit := self.find(folder, name + suffix):
                        return hit
        return None


def _file_or_link(path: Path) -> bool:
    """A file, or a link that is not a folder: a dangling or looping link is kept, so the scan lists
    it as a missing or unreadable image instead of the split silently losing it."""
    return path.is_file() or (path.is_symlink() and not path.is_dir())


def image_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (any case of extension; broken links too), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if _file_or_link(p) and is_image_file(p))


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when a link loops (resolve raises then): the file is
    still compared, found missing or unreadable by the scan, and listed, never a crash."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def base_name(name: str) -> str:
    """The last part of a path written on any system (LabelImg stores Windows paths too)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]
