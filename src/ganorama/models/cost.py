"""What a forward costs, and so how long a run will take, known before any weights load.

- :func:`forward_flops`: FLOPs of one view's forward for an architecture, counted by
  PyTorch on a weightless (meta-device) model: exact for the real one, instant.
- :func:`matmul_rate`: this device's dense rate in a dtype, from a short matmul.
- :func:`forward_seconds`: the two together, with the share of that rate the forward
  reaches (measured by ``benchmarks/roofline.py``), for an estimate a user can plan by.
"""
from __future__ import annotations

import time

import torch

from ganorama.models.config import BigGANConfig

# The forward's GFLOP/s as a share of the torch.mm rate, from benchmarks/roofline.py on a
# 2-core AVX512-BF16 CPU: 0.90 in float32 (oneDNN's Winograd convolutions), 0.70 in
# bfloat16. The lower one, so that an estimate errs long rather than short.
FORWARD_SHARE_OF_MATMUL_RATE = 0.7
# Everything a run does besides the forward (inputs, sync, composition, the 8-bit image),
# as a share of the forward: under 5% in both CPU dtypes (benchmarks/roofline.py).
OUTSIDE_FORWARD_SHARE = 0.05
# The probe's matmul side: big enough to reach the dense rate on a CPU's cores, small
# enough to take milliseconds (a 512 x 512 one reached half of it on 2 cores).
PROBE_SIZE = 1024
PROBE_REPEATS = 3


def forward_flops(config: BigGANConfig, truncation: float = 0.4) -> int:
    """FLOPs (a multiply-add is 2) of one view's forward of ``config``'s architecture,
    counted by ``torch.utils.flop_counter`` on a meta-device model: no weights, no
    arithmetic, about 0.2 s."""
    from torch.utils.flop_counter import FlopCounterMode

    from ganorama.models.biggan import BigGAN

    with torch.device("meta"):
        model = BigGAN(config)
        z = torch.zeros(1, config.z_dim)
        classes = torch.zeros(1, config.num_classes)
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(z, classes, truncation)
    return counter.get_total_flops()


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = PROBE_SIZE,
                repeats: int = PROBE_REPEATS) -> float:  # fmt: skip
    """FLOP/s of a ``size`` x ``size`` matmul in ``dtype`` on ``device``: the best of
    ``repeats`` after one warm-up (tens of milliseconds on a CPU)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for attempt in range(repeats + 1):
        _synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _synchronize(device)
        if attempt:  # the first call pays for the kernel's set-up
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / max(best, 1e-9)


def forward_seconds(flops: float, rate: float) -> float:
    """Seconds a run of ``flops`` forward FLOPs takes at a matmul rate of ``rate`` FLOP/s,
    everything around the forward included: an estimate, not a promise."""
    return flops / (rate * FORWARD_SHARE_OF_MATMUL_RATE) * (1 + OUTSIDE_FORWARD_SHARE)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
