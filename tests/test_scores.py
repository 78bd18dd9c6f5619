"""Seam and pole scores on synthetic panoramas whose seams are known."""
from __future__ import annotations

import math

import pytest
import torch

from ganorama import geometry
from ganorama.scores import discontinuity_score, pole_spreads, score_panorama, wrap_step

HEIGHT = 64


def seamless() -> torch.Tensor:
    """A smooth function of the direction on the sphere: no border, poles that close."""
    direction = geometry.equirect_directions(HEIGHT, 2 * HEIGHT)  # (H, W, 3)
    x, y, z = direction.unbind(-1)
    channels = (0.5 + 0.3 * torch.sin(3 * x + 2 * z), 0.5 + 0.3 * torch.cos(2 * y - z), 0.5 + 0.2 * x * y)
    return torch.stack(channels)


def hard_seam() -> torch.Tensor:
    """A flat image used as a panorama: a ramp across the width jumps back at +-180."""
    ramp = torch.linspace(0, 1, 2 * HEIGHT).expand(HEIGHT, -1)
    return (0.5 * seamless() + 0.5 * ramp).clamp(0, 1)


def hard_pole_cap() -> torch.Tensor:
    """A cap of stripes around the north pole: the top rows vary along the row (a pole
    that does not close), periodic in longitude so the border stays seamless."""
    image = seamless().clone()
    lon = geometry.column_longitude(torch.arange(2 * HEIGHT, dtype=torch.float32), 2 * HEIGHT)
    image[:, : HEIGHT // 8] = 0.5 + 0.4 * torch.sin(8 * lon)
    return image


def test_seamless_panorama_scores_low_on_every_measure():
    scores = score_panorama(seamless())
    assert scores.discontinuity_score < 0.5
    assert scores.wrap_step < 1.5  # the local step over the whole image's mean one
    assert scores.pole_spread < 0.02  # the top row's centres lie 1.4 degrees off the pole


def test_rolled_by_half_its_width_scores_as_the_seamless_one():
    """Rolling by half the width turns the sphere about its axis: the old +-180 border
    is inside now and the new one was inside before; no seam appears or vanishes."""
    image = seamless()
    rolled = image.roll(HEIGHT, dims=-1)
    assert discontinuity_score(rolled) == pytest.approx(discontinuity_score(image), abs=0.1)
    assert wrap_step(rolled) < 1.5


def test_a_hard_seam_scores_far_above_the_seamless_and_its_half_width_roll():
    seam, smooth = hard_seam(), seamless()
    assert discontinuity_score(seam) > 4 * discontinuity_score(smooth)
    assert wrap_step(seam) > 10
    # Rolled by half its width, the ramp's jump leaves the border for the middle.
    assert discontinuity_score(seam.roll(HEIGHT, dims=-1)) < discontinuity_score(seam) / 4


def test_a_hard_pole_cap_spreads_the_top_row_and_leaves_the_border_alone():
    cap, smooth = hard_pole_cap(), seamless()
    north, south = pole_spreads(cap)
    assert north > 0.2 > 0.02 > south
    assert pole_spreads(smooth)[0] < 0.02
    assert discontinuity_score(cap) < 0.5


def test_scores_order_the_three_synthetic_cases():
    """Sorting by each measure puts the seamless panorama first and the broken one last."""
    cases = {"seamless": seamless(), "seam": hard_seam(), "cap": hard_pole_cap()}
    scores = {name: score_panorama(image) for name, image in cases.items()}
    by_ds = sorted(scores, key=lambda name: scores[name].discontinuity_score)
    by_pole = sorted(scores, key=lambda name: scores[name].pole_spread)
    assert by_ds[-1] == "seam"
    assert by_pole[-1] == "cap"
    assert math.isclose(scores["seamless"].pole_spread, min(s.pole_spread for s in scores.values()), abs_tol=1e-3)


def test_discontinuity_score_follows_the_step_size():
    """DS grows with the step at the border: a kernel ratio, not a yes/no."""
    base = seamless()
    steps = []
    for size in (0.0, 0.1, 0.3):
        image = base.clone()
        image[..., HEIGHT:] = (image[..., HEIGHT:] + size).clamp(0, 1)  # a step at the middle...
        steps.append(discontinuity_score(image.roll(HEIGHT, dims=-1)))  # ...moved to the border
    assert steps[0] < steps[1] < steps[2]
