"""How much memory a run needs, how many views may run at once, and whether it fits.

Everything here is arithmetic on the model's architecture and the canvas's size, done
before any weights are loaded, so a run that cannot fit is refused in one line at once
instead of failing with ``can't allocate memory`` after minutes of work.

The chunk size (``max_views``) decides which float rounding a result gets, so ``auto``
derives it only from the model, the dtype and the device's *total* memory: the same
settings on the same machine give the same bytes whatever else is running. Whether the
run fits is then checked against the memory available now.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from ganorama.errors import UsageError
from ganorama.models.checkpoint import state_dict_shapes
from ganorama.models.config import BigGANConfig, BlockShape
from ganorama.resources import format_bytes, memory_available, memory_total, process_memory

# Measured peak RSS over the estimate of the tensors alive at once was at most this on a
# 2-core CPU (allocator slack, oneDNN scratch buffers): see benchmarks/memory.py.
_ALLOCATOR_SLACK = 1.25
# What loading a checkpoint leaves resident besides the model's own weights.
_LOADING_COPIES = 2
# Part of the device's total memory that ``auto`` lets one chunk's activations take, and
# a cap: beyond a few GiB more views per chunk buy no speed, only memory.
_AUTO_SHARE = {"cuda": 0.25, "cpu": 0.125}
_AUTO_CAP = {"cuda": 4 * 2**30, "cpu": 3 * 2**29}


# --- what the machine has ------------------------------------------------------------------


def total_memory(device: torch.device) -> int:
    """Total memory of ``device``: the GPU's for CUDA, else physical RAM (cgroup limit if lower)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return memory_total()


def available_memory(device: torch.device) -> int:
    """Memory that can be allocated now: free GPU memory for CUDA, else MemAvailable."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return memory_available()


# --- what the model needs -------------------------------------------------------------------


def _block_peak_elements(shape: BlockShape) -> int:
    """Elements alive at once inside one block for one image (input, the bottleneck's
    intermediates at the output size, the up-sampled shortcut, the output and the sum)."""
    inputs = shape.in_channels * shape.in_size**2
    out_area = shape.out_size**2
    if shape.attention:
        area = shape.in_size**2
        # queries, keys, values (before and after pooling), the attention matrix, the sum.
        return 3 * inputs + area * area // 4 + shape.in_channels * area
    middle = shape.in_channels // 4
    shortcut = (shape.in_channels // 2 if shape.in_channels != shape.out_channels else shape.in_channels)
    upsampled_shortcut = shortcut * out_area if shape.out_size != shape.in_size else 0
    return inputs + 3 * middle * out_area + 2 * shape.out_channels * out_area + upsampled_shortcut


def dtype_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def parameter_bytes(config, dtype: torch.dtype) -> int:
    """Size of the model's weights and statistics in ``dtype``."""
    import json

    return _parameter_count(json.dumps(config.to_dict(), sort_keys=True)) * dtype_size(dtype)


@functools.lru_cache(maxsize=8)
def _parameter_count(config_json: str) -> int:
    """Counted from the checkpoint's tensor shapes (no model is built), once per
    architecture: every request of a run plans with it."""
    import json

    shapes = state_dict_shapes(BigGANConfig.from_dict(json.loads(config_json)))
    return sum(math.prod(shape) for shape in shapes.values())


def block_view_bytes(config, dtype: torch.dtype) -> list[int]:
    """Peak transient bytes of one image in each block, in ``BigGAN.blocks`` order, the
    output layer last."""
    peaks = [_block_peak_elements(shape) for shape in config.block_shapes()]
    head = 2 * config.channel_width * config.output_dim**2 + 3 * config.output_dim**2
    return [int(elements * dtype_size(dtype) * _ALLOCATOR_SLACK) for elements in peaks + [head]]


def view_activation_bytes(config, dtype: torch.dtype, first_block: int = 0) -> int:
    """Peak transient bytes per image while it runs through blocks ``first_block..`` and
    the output layer: what one more view in a chunk costs."""
    return max(block_view_bytes(config, dtype)[first_block:])


def synced_feature_bytes(config, dtype: torch.dtype, start_layer: int, end_layer: int) -> int:
    """Bytes per view alive at a synced block, where every view of a canvas is together:
    the block's input and output for all views, and the sync's float32 working copies."""
    shapes = config.block_shapes()[start_layer:end_layer]
    if not shapes:
        return 0
    worst = max(
        (shape.in_channels * shape.in_size**2 + shape.out_channels * shape.out_size**2) * dtype_size(dtype)
        + 3 * shape.out_channels * shape.out_size**2 * 4
        for shape in shapes
    )
    # The last synced block's outputs stay alive while the chunks after it run.
    return int(worst * _ALLOCATOR_SLACK)


def image_bytes(config, views: int) -> int:
    """The generated views kept for composition (float32 RGB)."""
    return views * 3 * config.output_dim**2 * 4


@dataclass(frozen=True)
class MemoryPlan:
    """The chunk size chosen for a run and what it is expected to need at its peak."""

    max_views: int
    peak_bytes: int
    parts: dict = field(default_factory=dict)  # name -> bytes, for messages

    def describe(self) -> str:
        return _describe(self.parts)


def plan_memory(
    config,
    dtype: torch.dtype,
    device: torch.device,
    views: int,
    start_layer: int,
    end_layer: int,
    composition_bytes: int = 0,
    sync_bytes: int = 0,
    max_views: int | None = None,
    budget: int | None = None,
    label=lambda name: f"--{name}",
    process_bytes: int = 0,
) -> MemoryPlan:
    """Choose ``max_views`` (given, from ``budget`` bytes, or ``auto`` from the device's
    total memory) for a batch of ``views`` views, and estimate the run's peak.

    A budget is the whole process's peak: ``process_bytes`` (the interpreter, its
    libraries and what loading the weights leaves behind, see :func:`process_overhead`)
    is counted in it; against the memory available now it is not, as that already
    excludes what the process holds."""
    device = torch.device(device)
    per_view = view_activation_bytes(config, dtype, first_block=0)
    fixed = {
        "this process": process_bytes if budget is not None else 0,
        "weights": parameter_bytes(config, dtype),
        "synced features": views * synced_feature_bytes(config, dtype, start_layer, end_layer),
        "images": image_bytes(config, views),
        "composition": composition_bytes,
        "sync operators": sync_bytes,
    }
    fixed_total = sum(fixed.values())
    if max_views is None and budget is not None:
        max_views = (budget - fixed_total) // per_view
        if max_views < 1:
            raise UsageError(
                f"{label('memory_budget')} {format_bytes(budget)} is too small for even one view at a time; this run needs "
                f"at least {format_bytes(fixed_total + per_view)} ({_describe(fixed)}, one view "
                f"{format_bytes(per_view)})"
            )
    elif max_views is None:
        kind = "cuda" if device.type == "cuda" else "cpu"
        share = min(int(total_memory(device) * _AUTO_SHARE[kind]), _AUTO_CAP[kind])
        max_views = max(1, share // per_view)
    max_views = max(1, min(int(max_views), views))
    parts = dict(fixed, **{f"activations of {max_views} view(s) at a time": max_views * per_view})
    return MemoryPlan(max_views, fixed_total + max_views * per_view, parts)


def process_overhead(config, dtype: torch.dtype, device: torch.device, weights_loaded: bool) -> int:
    """Bytes the process holds besides the weights and the run's tensors, on the CPU: its
    resident memory now, less the weights when they are loaded already; before they are,
    plus what reading a checkpoint leaves resident (the file's tensors and their folded
    copy, which the allocator keeps for reuse: about two more copies of the weights,
    measured). 0 on CUDA, where a budget is of the GPU's memory."""
    if torch.device(device).type != "cpu":
        return 0
    weights = parameter_bytes(config, dtype)
    resident = process_memory()
    if weights_loaded:
        return max(0, resident - weights)
    return resident + _LOADING_COPIES * weights


def _describe(parts: dict) -> str:
    return ", ".join(f"{name} {format_bytes(size)}" for name, size in parts.items() if size)


def check_fits(plan: MemoryPlan, device: torch.device, what: str = "this run") -> None:
    """UsageError (one line: needed, available, what to change) when ``plan``'s peak
    exceeds the memory ``device`` has available now."""
    available = available_memory(device)
    if plan.peak_bytes <= available:
        return
    largest = max(plan.parts, key=plan.parts.get)
    if largest.startswith("activations") and plan.max_views > 1:
        advice = "set a smaller --max_views (or --memory_budget)"
    elif largest == "composition":
        advice = "make the output image smaller"
    elif largest == "weights":
        advice = "use a smaller model or --model_dtype float16/bfloat16"
    else:
        advice = "use fewer views or tiles (a smaller canvas)"
    raise UsageError(
        f"{what} needs about {format_bytes(plan.peak_bytes)} of memory ({plan.describe()}) but "
        f"{format_bytes(available)} is available on {torch.device(device).type}; {advice}"
    )
