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
