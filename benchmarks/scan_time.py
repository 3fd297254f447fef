"""Wall time of the pre-training data scan (read annotations, decode every image, judge boxes),
cold (empty cache) and cached (second run), on the raccoon set and on a large synthetic set.

    python -m benchmarks.scan_time                      # raccoon + 10 000 synthetic images
    python -m benchmarks.scan_time --synthetic 2000 --no-raccoon
    python -m benchmarks.scan_time --synthetic 0 --no-raccoon --copies 20000   # files repeating 80 photos

The synthetic set (192 px PNGs, COCO JSON) is generated once under /tmp (not timed). ``--copies N``
scans N images that are byte copies of 80 photos (as when users oversample by repeating files): the
duplicate report must stay one line per group, linear in N, with the process's peak memory beside
it. Prints JSON with the machine's CPU model, core count and whether it has AVX-512.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from detector.core.config import Config, load_config
from detector.core.device import machine
from detector.data.build import configured_splits, prepare_data
from detector.data.synthetic import ensure_synthetic


def timed(cfg: Config) -> dict[str, float]:
    """Seconds of a cold scan (fresh cache folder) and of a cached one, and the images seen."""
    with tempfile.TemporaryDirectory() as cache:
        cfg.data.scan_cache = cache
        splits = configured_splits(cfg.data)
        start = time.perf_counter()
        _, report = prepare_data(cfg, splits)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        _, again = prepare_data(cfg, splits)
        warm = time.perf_counter() - start
    assert again.images_checked == 0, "the second scan decoded images: the cache did not work"
    return {"images": sum(s.images for s in report.splits), "cold_s": round(cold, 2), "cached_s": round(warm, 2)}


def copies_set(n: int, distinct: int = 80) -> Config:
    """A COCO set of ``n`` images, each a byte copy of one of ``distinct`` synthetic photos (once under /tmp)."""
    root = Path(tempfile.gettempdir()) / f"scan_bench_copies_{n}"
    source = load_config(None, [f"data.root={root / 'source'}", f"data.synthetic.num_train={distinct}",
                                "data.synthetic.num_val=1"])
    ensure_synthetic(source.data.synthetic, source.data.root)
    ann = json.loads((root / "source" / "annotations" / "train.json").read_text())
    if not (root / "copies.json").is_file():
        (root / "copies").mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(n):
            original = ann["images"][i % distinct]
            shutil.copyfile(root / "source" / "train" / original["file_name"], root / "copies" / f"{i:07d}.png")
            images.append({**original, "id": i + 1, "file_name": f"{i:07d}.png"})
            annotations += [{**a, "id": len(annotations) + 1, "image_id": i + 1}
                            for a in ann["annotations"] if a["image_id"] == original["id"]]
        data = {"images": images, "annotations": annotations, "categories": ann["categories"]}
        (root / "copies.json").write_text(json.dumps(data))
    return load_config(None, ["data.dataset=coco", f"data.train_images={root / 'copies'}",
                              f"data.train_annotations={root / 'copies.json'}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=10_000, help="synthetic training images (0: skip)")
    parser.add_argument("--no-raccoon", action="store_true")
    parser.add_argument("--copies", type=int, default=0, help="images repeating 80 photos (0: skip)")
    args = parser.parse_args()
    out: dict[str, object] = {"machine": machine()}
    raccoon = Path("configs/raccoon.yaml")
    if not args.no_raccoon and Path("../shared/datasets/raccoon").is_dir():
        out["raccoon"] = timed(load_config(raccoon))
    if args.synthetic:
        root = Path(tempfile.gettempdir()) / f"scan_bench_shapes_{args.synthetic}"
        cfg = load_config(None, [f"data.root={root}", f"data.synthetic.num_train={args.synthetic}",
                                 "data.synthetic.num_val=100"])
        ensure_synthetic(cfg.data.synthetic, cfg.data.root)  # generated once, not timed
        out[f"synthetic_{args.synthetic}"] = timed(cfg)
    if args.copies:
        cfg = copies_set(args.copies)
        with tempfile.TemporaryDirectory() as cache:
            cfg.data.scan_cache = cache
            start = time.perf_counter()
            _, report = prepare_data(cfg, ("train",), strict=False)
            seconds = time.perf_counter() - start
        lines = [p for p in report.splits[0].problems if p.kind == "duplicate_file"]
        out[f"copies_{args.copies}"] = {
            "images": report.splits[0].images, "cold_s": round(seconds, 2), "duplicate_lines": len(lines),
            "files_in_the_largest_group": max((len(p.files) for p in lines), default=0),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
