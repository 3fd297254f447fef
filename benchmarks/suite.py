"""The GPU suite's steps in one Python process (``benchmarks/gpu.sh`` runs it; torch is imported once):
the tests marked ``cuda``, then each benchmark's JSON into ``--out``.

    python -m benchmarks.suite --device cuda --amp bf16 --out docs/perf/gpu
    python -m benchmarks.suite --device cpu --amp none --out /tmp/x --smoke    # tiny, on the CPU (tests run it)

Setups: the default config, and R50-FPN at 800 px with batch 8 and 16; then torch.compile of forward +
loss (train.compile) at the largest (not in the smoke: compiling takes minutes on a CPU), the loader on
800 px JPEGs against the step, and the loss's peak memory (in processes of its own, as it measures them).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
from pathlib import Path

import pytest

from detector.core.device import machine


def step(out: Path, file: str, module: str, argv: list[str]) -> None:
    """``benchmarks.<module>.main(argv)``, its printed JSON written to ``out / file``."""
    with open(out / file, "w") as f, contextlib.redirect_stdout(f):
        importlib.import_module(f"benchmarks.{module}").main(argv)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", default="bf16")
    p.add_argument("--out", default="docs/perf/gpu")
    p.add_argument("--smoke", action="store_true", help="one repetition, the default setup only, tiny inputs")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    code = pytest.main(["-q", "-m", "cuda", "tests/engine/test_cuda.py"])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return int(code)
    (out / "machine.json").write_text(json.dumps(machine(), indent=1) + "\n")
    reps = "1" if args.smoke else "5"
    common = ["--device", args.device, "--amp", args.amp, "--channels-last", "--reps", reps]
    for setup in ["default"] if args.smoke else ["default", "r50-800-b8", "r50-800-b16"]:
        step(out, f"train_step_{setup}.json", "train_step", ["--setup", setup, "--tv-same-settings", *common])
        step(out, f"inference_{setup}.json", "inference", ["--setup", setup, *common])
    cores = len(os.sched_getaffinity(0))  # what nproc counts
    big, jpeg, workers = ("default", "16", 1) if args.smoke else ("r50-800-b16", "400", max(1, cores - 2))
    if not args.smoke:
        step(out, f"train_step_{big}_compile.json", "train_step", ["--setup", big, "--compile", *common])
    step(out, "data_pipeline_jpeg.json", "data_pipeline", ["--jpeg", jpeg, "--setup", big, "--device", args.device,
                                                            "--batches", "4", f"train.num_workers={workers}"])
    memory = ["--images", "2", "--size", "128", "--classes", "3", "--reps", "1"] if args.smoke else []
    step(out, "loss_memory.json", "loss_memory", memory)
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
