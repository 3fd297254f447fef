"""Peak training memory, ours vs torchvision's RetinaNet at the same architecture and settings.

    python -m benchmarks.memory --setup default
    python -m benchmarks.memory --setup r50-512-b2 --steps 3

Each contender runs in its own fresh process (a process's peak cannot be reset on CPU): build the
model and batch, record resident memory, run ``--steps`` training steps, and report the peak
resident memory above that baseline (on CUDA: torch.cuda.max_memory_allocated). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.setups import SETUPS, random_batch, setup_config
from benchmarks.train_step import ours_step, torchvision_step

ROOT = Path(__file__).resolve().parents[1]  # the workers run as "python -m benchmarks.memory" from here


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(who: str, setup: str, steps: int, device: str, amp: str, channels_last: bool) -> float:
    """Peak MiB above the post-build baseline for one contender, in this process."""
    cfg = setup_config(setup)
    batch = random_batch(cfg.train.batch_size, cfg.augment.image_size, 20, 3)
    build = ours_step if who == "ours" else torchvision_step
    step = build(cfg, 3, batch, torch.device(device), amp, channels_last)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
        for _ in range(steps):
            step()
        return torch.cuda.max_memory_allocated() / 2**20 - base
    base = current_rss_mib()
    for _ in range(steps):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak - base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", choices=sorted(SETUPS), default="default")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", choices=["ours", "torchvision"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(measure(args.worker, args.setup, args.steps, args.device, args.amp, args.channels_last))
        return
    peaks = {}
    for who in ("ours", "torchvision"):
        cmd = [sys.executable, "-m", "benchmarks.memory", "--worker", who, "--setup", args.setup,
               "--steps", str(args.steps),
               "--amp", args.amp, "--device", args.device] + (["--channels-last"] if args.channels_last else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        peaks[who] = float(out.strip().splitlines()[-1])
    print(json.dumps({
        "benchmark": "memory", "setup": args.setup, "device": args.device, "amp": args.amp,
        "channels_last": args.channels_last, "steps": args.steps,
        "peak_mib_above_baseline": {k: round(v, 1) for k, v in peaks.items()},
        "ratio_ours_over_torchvision": round(peaks["ours"] / peaks["torchvision"], 3),
    }, indent=1))


if __name__ == "__main__":
    main()
