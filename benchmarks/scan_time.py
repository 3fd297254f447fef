"""Wall time of the pre-training data scan (read annotations, decode every image, judge boxes),
cold (empty cache) and cached (second run), on the raccoon set and on a large synthetic set.

    python -m benchmarks.scan_time                      # raccoon + 10 000 synthetic images
    python -m benchmarks.scan_time --synthetic 2000 --no-raccoon

The synthetic set (192 px PNGs, COCO JSON) is generated once under /tmp (not timed). Prints JSON
with the machine's CPU model, core count and whether it has AVX-512.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=10_000, help="synthetic training images (0: skip)")
    parser.add_argument("--no-raccoon", action="store_true")
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
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
