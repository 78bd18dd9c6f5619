"""Choosing the device and dtype to run on, from user-facing names."""
from __future__ import annotations

import torch

from ganorama.errors import UsageError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None or "auto" -> CUDA when available, else CPU; otherwise the named device,
    with a UsageError if it is malformed or not available here."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise UsageError(f"device {device!r} does not exist; {torch.cuda.device_count()} CUDA device(s) found")
    if resolved.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UsageError(f"device {device!r} requested but MPS is not available; use --device cpu")
    return resolved


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}  # fmt: skip


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float32/float16/bfloat16 by name or torch dtype; ``None``/``"auto"`` picks float16
    on CUDA (fast, and BigGAN is stable in it) and float32 elsewhere."""
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise UsageError(f"dtype {dtype} not supported; allowed: float32, float16, bfloat16, auto")
        return dtype
    if dtype is None or dtype == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise UsageError(f"unknown dtype {dtype!r}; allowed: auto, float32, float16, bfloat16") from None
