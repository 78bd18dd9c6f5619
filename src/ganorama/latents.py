"""Noise and class inputs for the generator, reproducible from a seed."""
from __future__ import annotations

import math
import secrets

import torch

TRUNCATION_BOUND = 2.0


def truncated_noise(batch: int, dim: int, truncation: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, dim) samples of a standard normal truncated to [-2, 2], times ``truncation``.

    Drawn by inverse CDF from ``generator``'s uniforms, so a seed gives the same noise on
    every platform; the result is on the generator's device, in float32.
    """
    uniform = torch.rand(batch, dim, generator=generator, device=generator.device, dtype=torch.float64)
    low = _normal_cdf(-TRUNCATION_BOUND)
    high = _normal_cdf(TRUNCATION_BOUND)
    probability = low + uniform * (high - low)
    samples = math.sqrt(2.0) * torch.erfinv(2 * probability - 1)
    return (truncation * samples.clamp(-TRUNCATION_BOUND, TRUNCATION_BOUND)).float()


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2.0)))


def random_class_ids(count: int, num_classes: int, generator: torch.Generator) -> list[int]:
    return torch.randint(num_classes, (count,), generator=generator, device=generator.device).tolist()


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator: noise is drawn on the CPU and moved, so seeds mean the same everywhere."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def fresh_seed() -> int:
    """A random seed to record when the user gave none, so every result can be regenerated."""
    return secrets.randbelow(2**31 - 1)


def slerp(start: torch.Tensor, end: torch.Tensor, fraction: float) -> torch.Tensor:
    """Spherical interpolation of noise rows (N, dim) -> (N, dim), per row.

    A straight blend of two independent normal samples shrinks the norm (by up to 1/sqrt(2)
    half way), so mid-walk frames would be drawn from a narrower, blander distribution; the
    great-circle path keeps it near the keyframes' norm. Rows that are (nearly) parallel
    fall back to the straight blend, which is then the same path."""
    start64, end64 = start.double(), end.double()
    start_norm = start64.norm(dim=-1, keepdim=True)
    end_norm = end64.norm(dim=-1, keepdim=True)
    cosine = ((start64 * end64).sum(-1, keepdim=True) / (start_norm * end_norm).clamp_min(1e-12)).clamp(-1, 1)
    angle = torch.acos(cosine)
    sine = torch.sin(angle)
    parallel = sine.abs() < 1e-6
    safe_sine = torch.where(parallel, torch.ones_like(sine), sine)
    curved = (torch.sin((1 - fraction) * angle) * start64 + torch.sin(fraction * angle) * end64) / safe_sine
    straight = (1 - fraction) * start64 + fraction * end64
    return torch.where(parallel, straight, curved).to(start.dtype)
