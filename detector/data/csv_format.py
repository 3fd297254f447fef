"""CSV box lists: the keras-retinanet format, and CSVs with a header row.

keras-retinanet: no header, one box per row ``path,x1,y1,x2,y2,class_name`` (pixels, x2/y2 the
far edges), an image without boxes written as ``path,,,,,``, paths relative to the CSV file.
Class names from ``data.class_names``, a keras-retinanet ``classes.csv`` (``class_name,id`` rows,
ordered by id; ``data.class_file``), or discovered from the training CSV (sorted) and printed.

A first row that names its columns is read by name instead (``filename,width,height,class,xmin,
ymin,xmax,ymax``, as Roboflow's TensorFlow CSV export writes): path from filename/path/image,
box from xmin..ymax or x1..y2, class from class/class_name/label; width/height, if present, are
checked against the image file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from detector.core.boxes import xyxy_to_xywh
from detector.data.draft import Draft

COLUMNS = {"path": ("path", "filename", "file", "image", "image_path", "file_name", "img"),
           "x1": ("x1", "xmin"), "y1": ("y1", "ymin"), "x2": ("x2", "xmax"), "y2": ("y2", "ymax"),
           "class": ("class_name", "class", "label", "name", "category"), "width": ("width",), "height": ("height",)}
KERAS_ORDER = ("path", "x1", "y1", "x2", "y2", "class")


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV file '{path}' does not exist")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # utf-8-sig: Excel's byte-order mark
            return list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"CSV file '{path}' cannot be read: {exc}") from None


def _columns(first: list[str], path: Path) -> dict[str, int] | None:
    """Column positions from a header row, or None when the first row is data (keras format)."""
    lowered = [c.strip().lower() for c in first]
    found = {key: next((lowered.index(n) for n in names if n in lowered), None) for key, names in COLUMNS.items()}
    if found["path"] is None or found["x1"] is None:
        return None
    missing = [k for k in KERAS_ORDER if found[k] is None]
    if missing:
        raise ValueError(f"CSV file '{path}': the header {first} names no column for {missing}")
    return {k: v for k, v in found.items() if v is not None}


def read_class_file(path: Path) -> list[str]:
    """Class names of a keras-retinanet ``classes.csv`` (``class_name,id``), ordered by id."""
    by_id: dict[int, str] = {}
    for n, row in enumerate(_rows(path), 1):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ValueError(f"{path} row {n}: expected 'class_name,id', got {row}")
        try:
            by_id[int(row[1])] = row[0].strip()
        except ValueError:
            raise ValueError(f"{path} row {n}: class id '{row[1]}' is not an integer") from None
    if not by_id:
        raise ValueError(f"class file '{path}' names no classes")
    return [by_id[i] for i in sorted(by_id)]


def _table(path: Path) -> tuple[list[list[str]], dict[str, int], int]:
    """(rows, column of each field, index of the first data row) of a CSV file."""
    rows = _rows(path)
    columns = _columns(rows[0], path) if rows else None
    return rows, columns or {k: i for i, k in enumerate(KERAS_ORDER)}, 1 if columns else 0


def csv_classes(path: Path) -> list[str]:
    """Sorted class names used in a CSV file."""
    rows, columns, start = _table(path)
    return sorted({row[columns["class"]].strip() for row in rows[start:] if len(row) > columns["class"]} - {""})


def csv_draft(path: Path, class_names: list[str], source: str) -> Draft:
    """A ``Draft`` of the CSV at ``path`` (categories 1..K in ``class_names`` order)."""
    rows, columns, start = _table(path)
    category = {name: i + 1 for i, name in enumerate(class_names)}
    draft = Draft(source, path.parent, [{"id": i, "name": n} for n, i in category.items()])
    image_ids: dict[str, int] = {}
    width = len(KERAS_ORDER) if start == 0 else max(columns.values()) + 1
    for n, row in enumerate(rows[start:], start + 1):
        where = f"{path} row {n}"
        if not any(c.strip() for c in row):
            continue
        if len(row) < width:
            draft.report.add("bad_annotation", where, f"{len(row)} columns, expected {width}: {row}")
            continue
        name = row[columns["path"]].strip().replace("\\", "/")  # a Windows path still names the file
        if name not in image_ids:
            sizes = {k: _int(row[columns[k]]) for k in ("width", "height") if k in columns}
            image_ids[name] = draft.add_image(path.parent / name, **sizes)
        box = [row[columns[k]].strip() for k in ("x1", "y1", "x2", "y2")]
        label = row[columns["class"]].strip()
        if not any(box) and not label:
            continue  # "path,,,,,": an image without boxes
        try:
            corners = [float(v) for v in box]
        except ValueError:
            draft.report.add("bad_annotation", where, f"box {box} has a value that is not a number")
            continue
        if label not in category:
            draft.report.add("unknown_class", where, f"class '{label}' is not one of {class_names}")
            continue
        draft.add_box(image_ids[name], category[label], where, bbox=xyxy_to_xywh(corners))
    return draft


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
