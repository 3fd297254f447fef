"""What the data scan finds: one ``Problem`` per file, row or box, and what happens to each kind.

Every kind has a fixed consequence, listed in ``KINDS`` (and in data/README.md):

- ``error``: the annotations cannot be trusted (a NaN, a negative size, a label out of range, an
  unknown class name, a malformed file or row). Training stops before step 1 with one line per
  problem naming the file and row or field.
- ``bad_image``: an image named in the annotations is missing or cannot be decoded. It is left
  out and listed (``data.on_bad_image=skip``, the default), or training stops before step 1
  (``data.on_bad_image=error``).
- ``warning``: used as described (truncated images load partially, degenerate boxes are dropped,
  boxes outside the image are clipped, ...), counted in the summary and listed in the report.
- ``info``: files the annotations do not use (unannotated images, stray text files).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """The dataset cannot be used as it is; the message names the files and rows."""


@dataclass(frozen=True)
class Problem:
    kind: str  # a key of KINDS
    file: str  # the file it is about (an image, an annotation file)
    detail: str = ""  # row or field and value, or the decoder's message
    files: tuple[str, ...] = ()  # every file of a group (duplicate_file), where the detail shows a few


KINDS: dict[str, tuple[str, str]] = {  # kind -> (severity, what happens)
    "bad_annotation": ("error", "malformed file, row or value (NaN, text for a number, negative size): "
                                "training stops before step 1"),
    "label_out_of_range": ("error", "a class id outside the class list: training stops before step 1"),
    "unknown_class": ("error", "a class name not in the class list: training stops before step 1"),
    "missing_image": ("bad_image", "named in the annotations but not on disk: left out (on_bad_image=error: stop)"),
    "unreadable_image": ("bad_image", "cannot be decoded at all: left out (on_bad_image=error: stop)"),
    "truncated_image": ("warning", "the file ends early: the part that is there is used, the rest is grey"),
    "misnamed_format": ("warning", "content in another format than its suffix says: decoded by content"),
    "exif_rotated": ("warning", "the photo's EXIF orientation turns it: used upright, as viewers, detectron2 and "
                                "Ultralytics show it; boxes must be drawn on the upright image"),
    "size_mismatch": ("warning", "the annotation's width/height differ from the image file's: the file's are used"),
    "degenerate_box": ("warning", "zero width or height inside the image: dropped"),
    "outside_box": ("warning", "reaches outside the image: clipped to it"),
    "skipped_class": ("warning", "an object of a class not in data.class_names: skipped"),
    "duplicate_file": ("warning", "a group of images with the same bytes (or one file in two splits): all used "
                                  "(across splits, val leaks into train); one line per group"),
    "unannotated_image": ("info", "an image file no annotation names: not used"),
    "stray_text_file": ("info", "a .txt in a label folder that is no image's labels (e.g. classes.txt): ignored"),
}


@dataclass
class SplitReport:
    """One split: counts and problems."""

    name: str
    source: str
    class_names: list[str] = field(default_factory=list)
    images: int = 0  # usable images
    boxes_per_class: dict[str, int] = field(default_factory=dict)
    images_without_boxes: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was done to the split on purpose (data.noise)

    def add(self, kind: str, file: str | Path, detail: str = "", files: tuple[str, ...] = ()) -> None:
        if kind not in KINDS:
            raise KeyError(f"unknown problem kind '{kind}'")
        self.problems.append(Problem(kind, str(file), detail, files))

    def counts(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    def of_severity(self, severity: str) -> list[Problem]:
        return [p for p in self.problems if KINDS[p.kind][0] == severity]


@dataclass
class DataReport:
    splits: list[SplitReport]
    seconds: float = 0.0  # wall time of the scan
    images_checked: int = 0  # decoded this time (not from the cache)

    def summary(self) -> str:
        """A few lines: per split images, boxes per class, and the count of each problem kind."""
        lines = []
        for s in self.splits:
            boxes = ", ".join(f"{k} {v}" for k, v in s.boxes_per_class.items()) or "none"
            lines.append(f"{s.name}: {s.images} images ({s.images_without_boxes} without boxes), "
                         f"boxes: {boxes}  [{s.source}]")
            lines += [f"  note: {note}" for note in s.notes]
            for kind, n in sorted(s.counts().items(), key=lambda kv: (_rank(kv[0]), kv[0])):
                severity, effect = KINDS[kind]
                example = next(p for p in s.problems if p.kind == kind)
                where = example.file + (f" ({example.detail})" if example.detail else "")
                lines.append(f"  {severity:<9} {kind} x{n}: {effect}; e.g. {where}")
        lines.append(f"scan: {sum(s.images for s in self.splits)} images in {self.seconds:.1f} s "
                     f"({self.images_checked} decoded, the rest from the cache)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2), "images_checked": self.images_checked,
                "what_happens": {k: {"severity": s, "effect": e} for k, (s, e) in KINDS.items()},
                "splits": [{**{k: v for k, v in asdict(s).items() if k != "problems"},
                            "problem_counts": dict(s.counts()),
                            "problems": [asdict(p) for p in s.problems]} for s in self.splits]}

    def write(self, folder: Path) -> Path:
        """``data_report.json`` (everything) and ``data_report.txt`` (the summary, then one line
        per problem) in ``folder``; returns the text file."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data_report.json").write_text(json.dumps(self.to_dict(), indent=1))
        lines = [self.summary(), ""]
        for s in self.splits:
            for p in sorted(s.problems, key=lambda p: (_rank(p.kind), p.kind, p.file)):
                lines.append(f"{s.name}\t{KINDS[p.kind][0]}\t{p.kind}\t{p.file}\t{p.detail}")
        text = folder / "data_report.txt"
        text.write_text("\n".join(lines) + "\n")
        return text

    def raise_for(self, on_bad_image: str, report_file: Path | None = None) -> None:
        """``DataError`` listing the problems that stop training (errors; bad images under
        ``on_bad_image=error``), at most 10 lines and where the rest are."""
        stop = [(s.name, p) for s in self.splits for p in s.problems
                if KINDS[p.kind][0] == "error" or (on_bad_image == "error" and KINDS[p.kind][0] == "bad_image")]
        if not stop:
            return
        lines = [f"{name}: {p.file}: {p.detail or KINDS[p.kind][1]} [{p.kind}]" for name, p in stop[:10]]
        more = f"\n... and {len(stop) - 10} more" if len(stop) > 10 else ""
        where = f"\nthe full list is in {report_file}" if report_file else ""
        hint = ("" if all(KINDS[p.kind][0] == "error" for _, p in stop)
                else "\n(data.on_bad_image=skip leaves bad images out instead)")
        raise DataError(f"{len(stop)} problem(s) in the data stop training before step 1:\n"
                        + "\n".join(lines) + more + where + hint)


def _rank(kind: str) -> int:
    return ("error", "bad_image", "warning", "info").index(KINDS[kind][0])
