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


def test_resolve_dtype_auto_is_float16_on_cuda_and_float32_on_cpu():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype(None, torch.device("cuda")) == torch.float16
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
