"""Device and dtype names from the user."""
from __future__ import annotations

import pytest
import torch

from ganorama.devices import resolve_device, resolve_dtype
from ganorama.errors import UsageError


def test_resolve_device_accepts_known_devices_and_names_bad_ones():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda")
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda")


def _cpu_with(monkeypatch, **capabilities):
    """Detection mocked: this CPU reports ``capabilities`` (and no override is set)."""
    monkeypatch.delenv("GANORAMA_CPU_BFLOAT16", raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"architecture": "x86_64", "avx512_f": True,
                                                                 **capabilities})


def test_auto_is_bfloat16_on_a_cpu_with_bfloat16_units(monkeypatch):
    _cpu_with(monkeypatch, avx512_bf16=True)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype(None, torch.device("cpu")) == torch.bfloat16
    _cpu_with(monkeypatch, avx512_bf16=False, amx_bf16=True)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16


def test_auto_is_float32_on_a_cpu_without_bfloat16_units(monkeypatch):
    _cpu_with(monkeypatch, avx512_bf16=False, amx_bf16=False)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    _cpu_with(monkeypatch)  # an older CPU's list has no bfloat16 entry at all
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32


def test_auto_is_float16_on_cuda_whatever_the_cpu(monkeypatch):
    _cpu_with(monkeypatch, avx512_bf16=True)
    assert resolve_dtype(None, torch.device("cuda")) == torch.float16
    assert resolve_dtype("auto", torch.device("mps")) == torch.float32


def test_the_environment_overrides_the_bfloat16_detection(monkeypatch):
    _cpu_with(monkeypatch, avx512_bf16=True)
    monkeypatch.setenv("GANORAMA_CPU_BFLOAT16", "0")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    _cpu_with(monkeypatch)
    monkeypatch.setenv("GANORAMA_CPU_BFLOAT16", "1")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16


def test_native_bfloat16_is_read_from_the_instruction_sets_of_either_architecture(monkeypatch):
    from ganorama.devices import cpu_has_native_bfloat16

    monkeypatch.delenv("GANORAMA_CPU_BFLOAT16")

    assert cpu_has_native_bfloat16({"architecture": "arm64", "neon": True, "bf16": True})
    assert not cpu_has_native_bfloat16({"architecture": "arm64", "neon": True, "bf16": False, "sve_max_length": 0})
    assert not cpu_has_native_bfloat16({"architecture": "x86_64", "avx512_f": True, "avx512_bw": True})


def test_explicit_dtypes_are_taken_as_given():
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(UsageError, match="allowed: auto, float32, float16, bfloat16"):
        resolve_dtype("int8", torch.device("cpu"))


def test_allocator_tuning_can_be_switched_off_by_environment(monkeypatch):
    from ganorama.devices import tune_cpu_allocator

    monkeypatch.setenv("GANORAMA_MALLOC_TUNING", "0")
    assert tune_cpu_allocator() is False


_RSS_AFTER_FREE = """
import ctypes, ctypes.util, os, sys
from ganorama.devices import tune_cpu_allocator
applied = tune_cpu_allocator()
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
size = 256 << 20
block = libc.malloc(size)
ctypes.memset(block, 1, size)
before_free = rss()
libc.free(block)
print(applied, before_free - rss())
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="glibc malloc only")
@pytest.mark.parametrize("setting,kept", [("1", True), ("0", False)])
def test_allocator_tuning_keeps_freed_large_blocks_for_reuse(setting, kept):
    """The effect the CLI relies on: with the tuning a freed 256 MiB block stays with the
    process (no page faults to get it back); without it glibc unmaps it at once."""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "GANORAMA_MALLOC_TUNING": setting})  # fmt: skip
    applied, released = result.stdout.split()
    assert applied == str(kept)
    released_mib = int(released) / 2**20
    assert (released_mib < 16) if kept else (released_mib > 200), released_mib


def test_every_command_tunes_the_allocator_before_running(monkeypatch, capsys):
    import ganorama.devices
    from ganorama.cli import main

    calls = []
    monkeypatch.setattr(ganorama.devices, "tune_cpu_allocator", lambda: calls.append(True) or True)
    assert main(["classes", "sandbar"]) == 0
    assert calls == [True] and "977" in capsys.readouterr().out


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    return float(10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean()))


# bfloat16 must be invisible in the image: 40 dB is an RMS difference of 1% of the range
# (2.5 levels of an 8-bit image), what a high-quality JPEG of it differs by. Random weights
# measure 60-70 dB here; a trained model's wider activations lose more, and 40 dB leaves it
# 20 dB (10x in RMS) of that room.
BFLOAT16_MIN_PSNR_DB = 40.0


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", ["full_size_128_checkpoint", "full_size_256_checkpoint",
                                        "full_size_512_checkpoint"])  # fmt: skip
def test_a_bfloat16_panorama_is_within_40_db_of_the_float32_one(checkpoint, request):
    """The quality gate of auto's bfloat16 on the CPU: the whole panorama (full layout,
    2000 x 1000: synced, composed) of full-size models, bfloat16 against float32."""
    from ganorama.pipeline import Ganorama

    directory = str(request.getfixturevalue(checkpoint))
    images = {}
    for dtype in ("float32", "bfloat16"):
        generator = Ganorama.from_pretrained(weights=directory, device="cpu", dtype=dtype)
        images[dtype] = generator.panorama("0.6*sandbar+0.4*valley", seed=11).image
        del generator
    psnr = _psnr(images["bfloat16"], images["float32"])
    assert psnr >= BFLOAT16_MIN_PSNR_DB, psnr
    levels = ((images["bfloat16"] * 255).round() - (images["float32"] * 255).round()).abs()
    assert float((levels > 8).float().mean()) < 1e-3, "more than 0.1% of pixels differ by over 8 levels"
