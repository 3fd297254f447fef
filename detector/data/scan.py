"""Decode every image once before training, in threads, remembering the answers.

``scan_images`` returns an ``ImageInfo`` (size, format, status, content digest) per path. The
answers are kept in a cache file per image folder, keyed by file name and invalidated by the
file's size and modification time, so a second scan of an unchanged dataset reads no pixels.
The cache lives in ``data.scan_cache`` (default ``$XDG_CACHE_HOME/retinanet/scan`` or
``~/.cache/retinanet/scan``; ``none`` turns it off), never inside the user's dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from detector.data.images import ImageInfo, check_image

CACHE_VERSION = 2


def cache_dir(setting: str) -> Path | None:
    """The folder for scan caches: ``setting`` itself, the default for "", None for "none"."""
    if setting == "none":
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "retinanet" / "scan"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class _FolderCache:
    """The cached ``ImageInfo`` of the files of one folder."""

    def __init__(self, root: Path | None, folder: Path) -> None:
        key = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=10).hexdigest()
        self.file = root / f"{key}.json" if root else None
        self.entries: dict[str, list] = {}
        self.dirty = False
        if self.file and self.file.is_file():
            try:
                data = json.loads(self.file.read_text())
                if data.get("version") == CACHE_VERSION:
                    self.entries = data["files"]
            except (OSError, ValueError, KeyError, TypeError):
                self.entries = {}  # an unreadable cache is only a slower scan

    def get(self, name: str, stamp: tuple[int, int] | None) -> ImageInfo | None:
        entry = self.entries.get(name)
        if entry is None or stamp is None or tuple(entry[:2]) != stamp:
            return None
        return ImageInfo(**entry[2])

    def put(self, name: str, stamp: tuple[int, int] | None, info: ImageInfo) -> None:
        if stamp is not None and not info.over_limit:  # a missing file, or one over the pixel limit, is judged anew
            self.entries[name] = [*stamp, asdict(info)]
            self.dirty = True

    def save(self) -> None:
        if not (self.file and self.dirty):
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "files": self.entries}))
        os.replace(tmp, self.file)  # atomic: a crash never leaves half a cache


PROGRESS_FROM = 300  # images to decode from which the scan shows a progress bar


def scan_images(paths: list[Path], cache: str = "", threads: int | None = None) -> tuple[dict[Path, ImageInfo], int]:
    """``ImageInfo`` of every path (decoded, or from the cache) and how many were decoded now."""
    root = cache_dir(cache)
    folders: dict[Path, list[Path]] = defaultdict(list)
    for path in dict.fromkeys(paths):
        folders[path.parent].append(path)
    infos: dict[Path, ImageInfo] = {}
    todo: list[tuple[_FolderCache, Path, tuple[int, int] | None]] = []
    caches = []
    for folder, files in folders.items():
        folder_cache = _FolderCache(root, folder)
        caches.append(folder_cache)
        for path in files:
            stamp = _stamp(path)
            cached = folder_cache.get(path.name, stamp)
            if cached is None:
                todo.append((folder_cache, path, stamp))
            else:
                infos[path] = cached
    # PIL releases the GIL while decoding, so threads use every core without pickling anything
    with ThreadPoolExecutor(threads or min(8, 2 * (os.cpu_count() or 1))) as pool:
        checked = tqdm(pool.map(lambda t: check_image(t[1]), todo), total=len(todo), desc="scan", unit="img",
                       disable=len(todo) < PROGRESS_FROM, leave=False, dynamic_ncols=True)
        for (folder_cache, path, stamp), info in zip(todo, checked):
            infos[path] = info
            folder_cache.put(path.name, stamp, info)
    for folder_cache in caches:
        folder_cache.save()
    return infos, len(todo)
