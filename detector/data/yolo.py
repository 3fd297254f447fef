"""YOLO / Ultralytics datasets: ``data.yaml`` as Ultralytics and Roboflow write it, or an image
folder plus class names.

- ``data.yaml``: ``path`` (the dataset root; relative to the YAML file, else to the current folder;
  absent: the YAML's folder), ``train`` / ``val`` (a folder, a ``.txt`` list of images, or a list of
  either, relative to ``path``; a ``../x`` that does not exist is tried as ``x``, which is how
  Ultralytics reads Roboflow's ``../train/images``), ``names`` (a list, or a dict ``{id: name}``).
- Labels by the Ultralytics rule: the last ``/images/`` of an image path becomes ``/labels/`` and
  the suffix ``.txt``; where that file does not exist, the ``.txt`` beside the image. When no image
  of a split has a label file at all, that is an error (a split of negatives is a wrong folder).
- Each row ``class cx cy w h``, normalised to 0..1; a polygon row (``class x1 y1 x2 y2 ...``,
  segmentation exports) becomes its bounding box. An image without a label file, or with an
  empty one, is a negative. A ``.txt`` in a label folder that belongs to no image (LabelImg's
  ``classes.txt``) is ignored, and without other class names ``classes.txt`` names the classes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from detector.core.io import read_yaml_mapping
from detector.data.draft import Draft
from detector.data.files import image_files, resolved
from detector.data.images import is_image_file

NORMALISED_SLACK = 0.01  # rounding: coordinates a little outside 0..1 are clipped, not errors


def read_yolo_yaml(path: Path) -> dict[str, Any]:
    """The YAML with ``root`` (the resolved ``path``) and ``names`` as a list (index = class id)."""
    data = read_yaml_mapping(path, "YOLO data file")
    root = data.get("path")
    if root in (None, ""):
        data["root"] = path.parent.resolve()
    else:
        root = Path(str(root)).expanduser()
        candidates = [root] if root.is_absolute() else [path.parent / root, Path.cwd() / root]
        # a path from the author's machine (/content/datasets/x on Colab) falls back to the YAML's folder
        data["root"] = next((c.resolve() for c in [*candidates, path.parent] if c.is_dir()), candidates[0].resolve())
    data["names"] = yolo_names(data.get("names"), f"YOLO data file '{path}'")
    return data


def yolo_names(names: Any, source: str) -> list[str]:
    """``names`` as a list indexed by class id, from a list or a ``{id: name}`` dict."""
    if isinstance(names, list) and names and all(isinstance(n, (str, int)) for n in names):
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise ValueError(f"{source}: 'names' keys must be class ids (0, 1, ...), got {list(names)[:5]}") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise ValueError(f"{source}: 'names' ids must be 0..{len(by_id) - 1}, got {sorted(by_id)[:10]}")
        return [by_id[i] for i in range(len(by_id))]
    raise ValueError(f"{source}: 'names' must be a list of class names or a dict {{id: name}}, got {names!r:.80}")


def split_sources(data: dict[str, Any], split: str, yaml_path: Path) -> list[Path]:
    """The folders or list files the YAML names for ``split`` ("train"; "val" falls back to "valid")."""
    value = data.get(split) or (data.get("valid") if split == "val" else None)
    if not value:
        raise ValueError(f"YOLO data file '{yaml_path}' has no '{split}' entry"
                         + (" (or use data.val_fraction to hold out training images)" if split == "val" else ""))
    out = []
    for item in value if isinstance(value, list) else [value]:
        path = data["root"] / str(item)
        if not path.exists() and str(item).startswith("../"):
            path = data["root"] / str(item)[3:]  # Roboflow's data.yaml, read the Ultralytics way
        if not path.exists():
            raise FileNotFoundError(f"YOLO data file '{yaml_path}': {split} '{item}' not found "
                                    f"(looked for '{path}', relative to path '{data['root']}')")
        out.append(resolved(path))
    return out


def list_images(sources: list[Path]) -> list[Path]:
    """Images of folders (recursively) and of ``.txt`` lists (paths relative to the list's folder)."""
    images: list[Path] = []
    for source in sources:
        if source.is_dir():
            images += image_files(source)
            continue
        for line in source.read_text().splitlines():
            line = line.strip()
            if line:
                p = Path(line)
                images.append(p if p.is_absolute() else (source.parent / p))
    return list(dict.fromkeys(resolved(p) if p.exists() else p for p in images))


def label_path(image: Path) -> Path:
    """The Ultralytics rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    text, sep = str(image), f"{os.sep}images{os.sep}"
    if sep in text:
        head, tail = text.rsplit(sep, 1)
        text = f"{head}{os.sep}labels{os.sep}{tail}"
    return Path(text).with_suffix(".txt")


def classes_txt(images: list[Path]) -> list[str]:
    """LabelImg's ``classes.txt`` in the label folder of the first image, if there is one."""
    if not images:
        return []
    path = label_path(images[0]).parent / "classes.txt"
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return []


def _parse_row(values: list[str]) -> tuple[int, list[float]] | str:
    """(class id, [cx, cy, w, h]) of one label row, or what is wrong with it."""
    if len(values) != 5 and (len(values) < 7 or len(values) % 2 == 0):
        return f"{len(values)} values; expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...'"
    try:
        cls = float(values[0])
        numbers = [float(v) for v in values[1:]]
    except ValueError:
        return f"'{' '.join(values)}' has a value that is not a number"
    if not cls.is_integer() or cls < 0:
        return f"class '{values[0]}' is not a class id (0, 1, ...)"
    if not all(math.isfinite(v) for v in numbers):
        return f"'{' '.join(values)}' is not finite"
    if len(values) > 5:  # a polygon: its bounding box
        xs, ys = numbers[0::2], numbers[1::2]
        numbers = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
    cx, cy, w, h = numbers
    if w < 0 or h < 0:
        return f"'{' '.join(values)}' has a negative width or height"
    if min(cx - w / 2, cy - h / 2) < -NORMALISED_SLACK or max(cx + w / 2, cy + h / 2) > 1 + NORMALISED_SLACK:
        return f"'{' '.join(values)}' is not normalised (coordinates must be fractions 0..1 of the image size)"
    return int(cls), numbers


def yolo_draft(images: list[Path], class_names: list[str], source: str, root: Path) -> Draft:
    """A ``Draft`` (categories 1..K for class ids 0..K-1) of ``images`` and their label files."""
    draft = Draft(source, root, [{"id": i + 1, "name": n} for i, n in enumerate(class_names)])
    label_dirs: set[Path] = set()
    found = 0
    for image in images:
        labels = label_path(image)
        label_dirs.add(labels.parent)
        image_id = draft.add_image(image)
        if not labels.is_file():
            labels = image.with_suffix(".txt")  # labels saved beside the images
        if not labels.is_file():
            continue  # no label file: a negative, as in Ultralytics
        found += 1
        try:
            rows = labels.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            draft.report.add("bad_annotation", labels, f"cannot be read as text: {exc}")
            continue
        for n, row in enumerate(rows, 1):
            if not row.strip():
                continue
            parsed = _parse_row(row.split())
            if isinstance(parsed, str):
                draft.report.add("bad_annotation", f"{labels} row {n}", parsed)
            elif parsed[0] >= len(class_names):
                draft.report.add("label_out_of_range", f"{labels} row {n}",
                                 f"class {parsed[0]}, but there are {len(class_names)} classes "
                                 f"(0..{len(class_names) - 1})")
            else:
                draft.add_box(image_id, parsed[0] + 1, f"{labels} row {n}", bbox_norm=parsed[1])
    for txt in _stray_label_files(images, label_dirs):
        draft.report.add("stray_text_file", txt, "no image has this name")
    if images and not found:
        draft.report.add("bad_annotation", label_path(images[0]).parent,
                         f"none of the {len(images)} images has a label file (looked for e.g. "
                         f"'{label_path(images[0])}' and '{images[0].with_suffix('.txt')}')")
    return draft


def _stray_label_files(images: list[Path], label_dirs: set[Path]) -> list[Path]:
    """``.txt`` files in the label folders named after no image (of any split: a shared label
    folder holds the other split's labels too)."""
    stems = {(label_path(i).parent, i.stem) for i in images}
    for folder in {i.parent for i in images}:
        stems |= {(label_path(p).parent, p.stem) for p in folder.iterdir() if is_image_file(p)}
    return [txt for folder in sorted(label_dirs) if folder.is_dir() for txt in sorted(folder.glob("*.txt"))
            if (folder, txt.stem) not in stems]
