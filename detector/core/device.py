"""Device, precision and seeding helpers shared by training and evaluation."""

from __future__ import annotations

import random
import re
from typing import Literal, cast

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device '{name}' asked for, but CUDA is not available here")
    return device


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), for benchmark records."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def machine() -> dict[str, object]:
    """What a benchmark figure depends on: CPU model, the flags that decide precision, threads, torch."""
    flags = cpu_flags()
    return {"cpu": cpu_model(), "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "native_bf16": sorted(set(NATIVE_BF16) & flags), "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # CPUs without them emulate bf16, about 16x slower than fp32


def machine_slug() -> str:
    """A short folder name for the kind of machine a timed figure belongs to: the GPU, or the CPU
    model and its fastest bf16 instructions, e.g. ``amd-epyc-avx512_bf16``, ``intel-xeon-amx_bf16``."""
    if torch.cuda.is_available():
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")
    words = re.sub(r"\((r|tm)\)|\bprocessor\b|\bcpu\b|@.*", " ", cpu_model().lower())
    name = re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "cpu"
    flags = cpu_flags()
    fastest = next((f for f in reversed(NATIVE_BF16) if f in flags), "avx2" if "avx2" in flags else "no-avx2")
    return f"{name}-{fastest}"


Precision = Literal["none", "bf16", "fp16"]


def resolve_amp(amp: str, device: torch.device) -> tuple[Precision, str]:
    """(none | bf16 | fp16, why) for a precision setting; ``auto`` is the fastest this device runs
    well: bf16 on CUDA devices that support it, else fp16 (with a GradScaler); bf16 on CPUs with
    native bf16 (AVX512-BF16 or AMX), else fp32."""
    if amp != "auto":
        return cast(Precision, amp), "set in the config"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"{torch.cuda.get_device_name(device)} supports bf16"
        return "fp16", f"{torch.cuda.get_device_name(device)} has no bf16: fp16 with a GradScaler"
    if device.type == "cpu":
        native = sorted(set(NATIVE_BF16) & cpu_flags())
        if native:
            return "bf16", f"the CPU has {', '.join(native)}"
        return "none", "the CPU has no native bf16 (avx512_bf16 / amx_bf16): fp32"
    return "none", f"no automatic precision for {device.type}: fp32"


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting ("none" -> None; "auto" resolved by
    ``resolve_amp``). fp16 needs CUDA (and a GradScaler)."""
    amp = resolve_amp(amp, device)[0]
    if amp == "none":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("train.amp=fp16 needs a CUDA device; use bf16 on the CPU")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
