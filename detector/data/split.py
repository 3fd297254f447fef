"""A validation split held out of the training images (``data.val_fraction``): seeded, stratified
by each image's rarest class, and recorded in a file so evaluation and resume use the same one."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

from detector.data.draft import Draft


def hold_out(draft: Draft, fraction: float, seed: int) -> set[str]:
    """``file_name``s of about ``fraction`` of the images (at least one when there are two or more).

    Each image belongs to the stratum of its rarest class (images without boxes to their own),
    and every stratum gives its share; the images left over by rounding go first to strata that
    have none held out yet (of two or more images), then by largest remainder, so a rare class is
    not left entirely in training by chance.
    """
    counts = Counter(a["category_id"] for a in draft.annotations if not a.get("iscrowd"))
    classes = defaultdict(set)
    for a in draft.annotations:
        if not a.get("iscrowd"):
            classes[a["image_id"]].add(a["category_id"])
    strata: dict[int, list[str]] = defaultdict(list)
    for image in draft.images:
        own = classes.get(image["id"])
        strata[min(own, key=lambda c: (counts[c], c)) if own else 0].append(image["file_name"])
    n = len(draft.images)
    target = min(max(round(n * fraction), 1 if n >= 2 else 0), n - 1) if n else 0
    quota = {s: len(files) * fraction for s, files in strata.items()}
    take = {s: int(q) for s, q in quota.items()}
    order = sorted(quota, key=lambda s: (take[s] > 0 or len(strata[s]) < 2, take[s] - quota[s], s))
    for s in order[: max(target - sum(take.values()), 0)]:
        take[s] += 1
    rng = random.Random(seed)
    held: set[str] = set()
    for s in sorted(strata):
        files = sorted(strata[s])
        rng.shuffle(files)
        held.update(files[: take[s]])
    return held


def split_draft(draft: Draft, held: set[str]) -> tuple[Draft, Draft]:
    """(train, val) parts of ``draft``; what reading found is reported with the training part."""
    val_ids = {im["id"] for im in draft.images if im["file_name"] in held}
    train_ids = {im["id"] for im in draft.images} - val_ids
    train = draft.subset(train_ids, draft.source + " (training part)")
    train.report.problems = list(draft.report.problems)
    return train, draft.subset(val_ids, draft.source + " (held-out part)")


def load_or_make_split(draft: Draft, fraction: float, seed: int, record: Path | None) -> set[str]:
    """The held-out file names: from ``record`` if it exists (new images go to training), else
    drawn now and written there."""
    if record is not None and record.is_file():
        data = json.loads(record.read_text())
        known = set(data["val"]) | set(data["train"])
        new = sum(im["file_name"] not in known for im in draft.images)
        if new:
            print(f"{record}: {new} images are not in the recorded split; they go to training")
        return set(data["val"])
    held = hold_out(draft, fraction, seed)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(im["file_name"] for im in draft.images)
        record.write_text(json.dumps({"val_fraction": fraction, "split_seed": seed, "source": draft.source,
                                      "val": [f for f in names if f in held],
                                      "train": [f for f in names if f not in held]}, indent=1))
    return held
