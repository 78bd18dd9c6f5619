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
