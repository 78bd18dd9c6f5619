"""What a forward costs, known before weights load: counted FLOPs and the device's rate."""
from __future__ import annotations

import math

import torch
from torch.utils.flop_counter import FlopCounterMode

from fixture_models import small_config
from ganorama.models.biggan import BigGAN
from ganorama.models.config import BigGANConfig
from ganorama.models.cost import forward_flops, forward_seconds, matmul_rate


def test_the_weightless_count_equals_the_count_of_a_real_forward():
    config = small_config(8)
    model = BigGAN(config).eval()
    z, classes = torch.zeros(1, config.z_dim), torch.zeros(1, config.num_classes)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(z, classes, 0.4)
    assert forward_flops(config) == counter.get_total_flops() > 0


def test_the_published_128_architecture_costs_17_9_gflop_a_view():
    # The figure issue 19 measured on the real model with torch's counter.
    assert math.isclose(forward_flops(BigGANConfig.preset("biggan-deep-128")) / 1e9, 17.918, rel_tol=1e-3)


def test_the_estimate_grows_with_the_flops_and_shrinks_with_the_rate():
    rate = matmul_rate(torch.device("cpu"), torch.float32, size=128, repeats=1)
    assert math.isfinite(rate) and rate > 0
    assert math.isclose(forward_seconds(2e12, rate), 2 * forward_seconds(1e12, rate))
    assert math.isclose(forward_seconds(1e12, 2 * rate), forward_seconds(1e12, rate) / 2)
