"""Geometry conventions: one set of functions for the sync step and the composition."""
from __future__ import annotations

import math

import pytest
import torch

from ganorama import geometry
from ganorama.canvas.sphere import SphereCanvas


@pytest.mark.parametrize("height,width", [(4, 4), (8, 8), (16, 24), (64, 64), (128, 128)])
def test_view_pixel_sent_to_sphere_and_back_lands_on_itself(height, width):
    rotation, fov = SphereCanvas.from_layout("full").cameras()
    rays = geometry.view_rays(rotation, fov, height, width)  # (V, h, w, 3)
    for view in range(rotation.shape[0]):
        coords, in_front = geometry.project_to_views(rays[view], rotation[view : view + 1], fov[view : view + 1], height, width)
        assert in_front.all()
        pixels = geometry.normalised_to_pixel(coords[0], height, width)
        expected_columns = torch.arange(width, dtype=pixels.dtype).expand(height, width)
        expected_rows = torch.arange(height, dtype=pixels.dtype)[:, None].expand(height, width)
        torch.testing.assert_close(pixels[..., 0], expected_columns, atol=1e-9, rtol=0)
        torch.testing.assert_close(pixels[..., 1], expected_rows, atol=1e-9, rtol=0)


def test_equirect_centre_column_looks_forward_and_top_row_looks_up():
    height, width = 10, 20
    directions = geometry.equirect_directions(height, width, dtype=torch.float64)
    lon, lat = geometry.equirect_lonlat(height, width, dtype=torch.float64)
    # Column W/2 has its left edge at lon 0: between columns W/2 - 1 and W/2 lies "forward".
    assert lon[0, width // 2 - 1] < 0 < lon[0, width // 2]
    assert directions[0, :, 1].max() < -0.98  # top row: y (down) close to -1, i.e. up
    torch.testing.assert_close(geometry.lonlat_to_direction(torch.tensor(0.0), torch.tensor(0.0)),
                               torch.tensor([0.0, 0.0, 1.0]))  # fmt: skip
    east = geometry.lonlat_to_direction(torch.tensor(math.pi / 2), torch.tensor(0.0))
    torch.testing.assert_close(east, torch.tensor([1.0, 0.0, 0.0]), atol=1e-7, rtol=0)


def test_equirect_pixel_to_direction_and_back_is_identity():
    height, width = 9, 18
    directions = geometry.equirect_directions(height, width, dtype=torch.float64)
    uv = geometry.direction_to_equirect(directions, height, width)
    torch.testing.assert_close(uv[..., 0], torch.arange(width, dtype=torch.float64).expand(height, width))
    torch.testing.assert_close(uv[..., 1], torch.arange(height, dtype=torch.float64)[:, None].expand(height, width))


def test_view_rotation_turns_right_for_positive_azimuth_and_up_for_positive_elevation():
    rotation = geometry.view_rotation(torch.tensor([math.pi / 2, 0.0]), torch.tensor([0.0, math.pi / 2]),
                                      torch.tensor([0.0, 0.0]))  # fmt: skip
    forward = rotation[..., 2]
    torch.testing.assert_close(forward[0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-7, rtol=0)
    torch.testing.assert_close(forward[1], torch.tensor([0.0, -1.0, 0.0]), atol=1e-7, rtol=0)
    assert torch.allclose(rotation @ rotation.transpose(-1, -2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
