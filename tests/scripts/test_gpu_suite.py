"""The GPU suite runs end to end on the CPU in its smoke mode, so it is known to work the moment a
GPU appears: its CUDA tests skip cleanly and every benchmark writes parseable JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_suite_smoke_on_cpu(tmp_path):
    # this interpreter, not whichever `python` is first on PATH (here one that only fails)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("#!/bin/sh\necho 'the wrong python' >&2\nexit 3\n")
    (tmp_path / "bin" / "python").chmod(0o755)
    env = {**os.environ, "DEVICE": "cpu", "SMOKE": "1", "OUT": str(tmp_path), "AMP": "none", "PYTHON": sys.executable,
           "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "benchmarks/gpu.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.startswith("ssssss ")  # the six CUDA tests skip without a GPU
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == ["data_pipeline_jpeg.json", "inference_default.json", "loss_memory.json", "machine.json",
                     "train_step_default.json"]
    assert json.loads((tmp_path / "data_pipeline_jpeg.json").read_text())["loader_images_per_s"] > 0
    step = json.loads((tmp_path / "train_step_default.json").read_text())
    assert step["images_per_s"]["ours"] > 0 and "ratio_vs_torchvision_same" in step
    assert json.loads((tmp_path / "inference_default.json").read_text())["ratio_vs_torchvision"] > 0
