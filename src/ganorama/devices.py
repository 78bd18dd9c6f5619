"""Choosing the device and dtype to run on, from user-facing names."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ganorama.errors import UsageError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None or "auto" -> CUDA when available, else CPU; otherwise the named device,
    with a UsageError if it is malformed or not available here."""
    import torch  # here, not at import: the allocator tuning below runs before every command

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


# The dtypes a model runs in, by the names sidecars and flags use.
DTYPES = ("float32", "float16", "bfloat16")
_DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
                "bfloat16": "bfloat16", "bf16": "bfloat16"}  # fmt: skip


# Instruction sets that multiply bfloat16 natively, as torch.cpu.get_capabilities() names
# them (cpuinfo's CPUID flags, what oneDNN dispatches on): x86's AVX512_BF16 and AMX, Arm's
# BF16 dot products. Without them oneDNN converts bfloat16 to float32 and gains nothing.
NATIVE_BFLOAT16_CAPABILITIES = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def cpu_has_native_bfloat16(capabilities: dict | None = None) -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (``capabilities``: what
    ``torch.cpu.get_capabilities()`` says, read when None). GANORAMA_CPU_BFLOAT16=0 or 1
    overrides the answer (a float32 ``auto`` on any CPU, or bfloat16 to try it)."""
    import os

    override = os.environ.get("GANORAMA_CPU_BFLOAT16")
    if override in ("0", "1"):
        return override == "1"
    if capabilities is None:
        import torch

        get_capabilities = getattr(torch.cpu, "get_capabilities", None)
        if get_capabilities is None:  # before torch 2.8: only the x86 question could be asked
            return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
        capabilities = get_capabilities()
    return any(capabilities.get(name) is True for name in NATIVE_BFLOAT16_CAPABILITIES)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float32/float16/bfloat16 by name or torch dtype; ``None``/``"auto"`` picks float16
    on CUDA (fast, and BigGAN is stable in it), bfloat16 on a CPU that multiplies it
    natively (:func:`cpu_has_native_bfloat16`: about 1.4x a float32 forward on AVX512_BF16,
    images within 40 dB of float32's, see tests/test_dtype_quality.py) and float32
    elsewhere."""
    import torch

    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise UsageError(f"dtype {dtype} not supported; allowed: float32, float16, bfloat16, auto")
        return dtype
    if dtype is None or dtype == "auto":
        kind = torch.device(device).type
        if kind == "cuda":
            return torch.float16
        return torch.bfloat16 if kind == "cpu" and cpu_has_native_bfloat16() else torch.float32
    try:
        return getattr(torch, _DTYPE_NAMES[str(dtype).lower()])
    except KeyError:
        raise UsageError(f"unknown dtype {dtype!r}; allowed: auto, float32, float16, bfloat16") from None


def tune_cpu_allocator() -> bool:
    """Make glibc's malloc keep large freed blocks for reuse (process-wide: the CLI calls
    it at start, and :class:`ganorama.Ganorama` when it holds a model on the CPU, so a
    library user gets the same speed). Returns whether it was applied; calling it again
    changes nothing.

    By default glibc serves blocks above its mmap threshold (at most 32 MiB) with fresh
    mmap'd pages, which the kernel must zero on first touch, and unmaps them on free: a
    generator forward on the CPU then spends much of its time in page faults. Raising the
    mmap and trim thresholds to 1 GiB lets activation buffers be reused between layers and
    calls (measured on a 2-core CPU: biggan-deep-128, 16 images, 2.8 s -> 1.3 s). Set
    GANORAMA_MALLOC_TUNING=0 to leave the allocator alone.
    """
    import ctypes
    import ctypes.util
    import os
    import sys

    if os.environ.get("GANORAMA_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl): nothing to tune
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # from glibc's malloc.h
    one_gib = 1 << 30
    # One arena: a thread other than the main one (Ray Data's and Gradio's workers generate
    # there) would otherwise get an arena of its own, whose heaps are at most 64 MiB, so its
    # large blocks are fresh mmaps whatever the threshold (measured: 2.0 s -> 1.25 s a
    # panorama at 128 in a Ray Data worker).
    return (bool(mallopt(m_mmap_threshold, one_gib)) and bool(mallopt(m_trim_threshold, one_gib))
            and bool(mallopt(m_arena_max, 1)))
