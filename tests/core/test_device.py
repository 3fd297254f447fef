"""Precision chosen per machine: train.amp=auto / inference.amp=auto."""

import pytest
import torch

from detector.core import device as device_mod
from detector.core.device import amp_dtype, resolve_amp


def test_auto_is_bf16_only_on_cpus_with_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert resolve_amp("auto", cpu) == ("bf16", "the CPU has avx512_bf16")
    assert amp_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert resolve_amp("auto", cpu)[0] == "bf16"
    monkeypatch.setattr(device_mod, "cpu_flags", lambda: {"avx2", "fma"})  # bf16 emulated: ~16x slower
    assert resolve_amp("auto", cpu)[0] == "none" and amp_dtype("auto", cpu) is None
    assert resolve_amp("bf16", cpu) == ("bf16", "set in the config")  # an explicit choice stands


def test_fp16_needs_cuda_and_flags_come_from_cpuinfo():
    with pytest.raises(ValueError, match="train.amp=fp16 needs a CUDA device"):
        amp_dtype("fp16", torch.device("cpu"))
    assert isinstance(device_mod.cpu_flags(), set)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda_is_bf16_where_supported_else_fp16():
    amp, _ = resolve_amp("auto", torch.device("cuda"))
    assert amp == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
