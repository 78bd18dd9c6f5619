"""Sphere canvas: the sync operator against a pairwise implementation, and composition."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.canvas.layouts import View, dense_layout, full_sphere_layout, layout_views, seed16_layout
from ganorama.canvas.sphere import SphereCanvas
from ganorama.errors import UsageError


def _rotation(azimuth_deg: float, elevation_deg: float) -> torch.Tensor:
    """Camera-to-world rotation written independently of ganorama.geometry: yaw about the
    (downward) y axis, then pitch about x, for the x-right / y-down / z-forward frame."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    yaw = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)
    pitch = torch.tensor([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]], dtype=torch.float64)
    return yaw @ pitch


def pairwise_sync(features: torch.Tensor, views, height: int, width: int) -> torch.Tensor:
    """The seed's rule, written out with a loop over every pair of views: for view i and
    pixel p, average f_i(p) with the bilinear sample of every other view j in which p's
    direction is in front of the camera and inside j's pixel-centre range."""
    count = features.shape[0]
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) / width * 2 - 1
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height * 2 - 1
    total = features.double().clone()
    samples = torch.ones(count, height, width, dtype=torch.float64)
    for i in range(count):
        tan_i = math.tan(math.radians(views[i].fov) / 2)
        camera = torch.stack(torch.broadcast_tensors(xs[None, :] * tan_i, ys[:, None] * tan_i * height / width,
                                                     torch.ones(1, 1, dtype=torch.float64)), dim=-1)  # fmt: skip
        world = camera @ _rotation(views[i].azimuth, views[i].elevation).T
        for j in range(count):
            if j == i:
                continue
            tan_j = math.tan(math.radians(views[j].fov) / 2)
            local = world @ _rotation(views[j].azimuth, views[j].elevation)  # R_j^T d, row vectors
            depth = local[..., 2]
            in_front = depth > 0
            # Directions at 90 degrees to view j have depth exactly 0: divide by a stand-in
            # there (those pixels are outside the mask) so no inf/NaN reaches grid_sample.
            safe_depth = torch.where(in_front, depth, torch.ones_like(depth))
            x = local[..., 0] / safe_depth / tan_j
            y = local[..., 1] / safe_depth / (tan_j * height / width)
            column, row = (x + 1) * width / 2 - 0.5, (y + 1) * height / 2 - 0.5
            inside = in_front & (column >= 0) & (column <= width - 1) & (row >= 0) & (row <= height - 1)
            grid = torch.stack((x, y), dim=-1)[None]
            sampled = F.grid_sample(features[j : j + 1].double(), grid, mode="bilinear", align_corners=False)[0]
            # Select, never multiply by the mask: NaN * 0 is NaN.
            total[i] += torch.where(inside, sampled, torch.zeros_like(sampled))
            samples[i] += inside
    return (total / samples[:, None]).float()


@pytest.mark.parametrize("height,width", [(8, 8), (16, 16), (32, 32), (64, 64), (16, 24)])
def test_sync_operator_on_seed16_equals_pairwise_rule(height, width):
    canvas = SphereCanvas(seed16_layout())
    features = torch.randn(16, 3, height, width, generator=torch.Generator().manual_seed(height * width))
    expected = pairwise_sync(features, canvas.views, height, width)
    actual = canvas.sync_operator(height, width)(features)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_sync_operator_of_a_dense_layout_equals_pairwise_rule():
    """Only views whose caps meet are paired when building: nothing is lost by it."""
    canvas = SphereCanvas(dense_layout(8))
    features = torch.randn(canvas.num_views, 2, 8, 8, generator=torch.Generator().manual_seed(3))
    expected = pairwise_sync(features, canvas.views, 8, 8)
    torch.testing.assert_close(canvas.sync_operator(8, 8)(features), expected, atol=1e-5, rtol=0)


def test_sync_operator_bytes_estimate_covers_the_operators_kept():
    canvas = SphereCanvas(dense_layout(8))
    kept = 0
    for size in (8, 16):
        operator = canvas.sync_operator(size, size)
        kept += sum(part.numel() * part.element_size() for part in (operator.offsets, operator.columns,
                                                                      operator.weights))  # fmt: skip
    estimate = canvas.sync_bytes([8, 16, 16])
    assert kept <= estimate <= 3 * kept, (kept, estimate)


def _rolled_wide_layout() -> list[View]:
    return [View(v.azimuth + 7, v.elevation, 25.0, v.fov + 10) for v in full_sphere_layout()]


@pytest.mark.parametrize("views", [_rolled_wide_layout(), dense_layout(8)], ids=["rolled", "dense8"])
def test_composition_plan_over_caps_takes_every_pixel_each_view_sees(views):
    """Each view's pixels are found in a window around its cap; the window must hold all
    those a projection of the whole image finds (odd sizes, a pole-holding view, wrap)."""
    canvas = SphereCanvas(views)
    height, width = 33, 67
    rotation, fov = canvas.cameras(dtype=torch.float32)
    directions = geometry.equirect_directions(height, width).reshape(-1, 3)
    coords, in_front = geometry.project_to_views(directions, rotation, fov, 1, 1)
    seen = in_front & (coords.abs().amax(dim=-1) <= 1)  # (V, H*W)
    found = list(canvas.view_pixels(height, width))
    assert len(found) == canvas.num_views
    for view, (flat, view_coords) in enumerate(found):
        expected = torch.nonzero(seen[view], as_tuple=True)[0]
        assert torch.equal(flat.long().sort().values, expected), f"view {view}"
        torch.testing.assert_close(view_coords, coords[view][flat])


def test_sync_operator_syncs_several_panoramas_in_one_batch_independently():
    canvas = SphereCanvas.from_layout("full")
    operator = canvas.sync_operator(8, 8)
    first, second = torch.randn(2, canvas.num_views, 4, 8, 8).unbind(0)
    both = operator(torch.cat((first, second)))
    torch.testing.assert_close(both[: canvas.num_views], operator(first))
    torch.testing.assert_close(both[canvas.num_views :], operator(second))


def test_sync_operator_keeps_dtype_and_is_cached_per_resolution():
    canvas = SphereCanvas.from_layout("full")
    features = torch.randn(canvas.num_views, 2, 8, 8, dtype=torch.bfloat16)
    assert canvas.sync_operator(8, 8)(features).dtype == torch.bfloat16
    assert canvas.sync_operator(8, 8) is canvas.sync_operator(8, 8)
    assert canvas.sync_operator(8, 8) is not canvas.sync_operator(16, 16)


def test_synced_constant_features_stay_constant():
    canvas = SphereCanvas.from_layout("full")
    features = torch.full((canvas.num_views, 1, 16, 16), 3.0)
    torch.testing.assert_close(canvas.sync_operator(16, 16)(features), features)


def test_default_layout_composition_of_constant_views_covers_every_pixel():
    canvas = SphereCanvas.from_layout("full")
    colour = torch.tensor([0.2, 0.5, 0.9])
    views = colour.view(1, 3, 1, 1).expand(canvas.num_views, 3, 32, 32)
    image = canvas.compose(views, 250, 500)
    assert canvas.composition_plan(250, 500, 32).interior_coverage == 1.0
    torch.testing.assert_close(image, colour.view(3, 1, 1).expand(3, 250, 500), atol=1e-5, rtol=0)


def test_panorama_first_and_last_columns_continue_each_other():
    canvas = SphereCanvas.from_layout("full")
    views = torch.rand(canvas.num_views, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    views = F.avg_pool2d(views, 5, stride=1, padding=2)  # smooth, like generated images
    image = canvas.compose(views, 200, 400)
    seam = (image[:, :, 0] - image[:, :, -1]).abs().mean()
    neighbours = (image[:, :, 1:] - image[:, :, :-1]).abs().mean()
    assert seam <= neighbours * 1.5, (seam, neighbours)


def test_composition_places_each_view_where_it_looks():
    canvas = SphereCanvas.from_layout("full")
    views = torch.zeros(canvas.num_views, 3, 16, 16)
    east = next(i for i, v in enumerate(canvas.views) if (v.azimuth, v.elevation) == (90, 0))
    views[east] = 1.0
    image = canvas.compose(views, 90, 180)
    # Longitude 90 degrees east on the equator: column 3/4 of the width, middle row.
    assert image[:, 45, 135].min() > 0.9  # neighbours weigh in only near their borders
    assert image[:, 45, 45].max() < 1e-6  # 90 degrees west sees nothing of it


def test_unknown_layout_is_a_usage_error_listing_the_choices():
    with pytest.raises(UsageError, match="layout 'ring' is unknown; allowed: full, seed16, cube, dense\\[:N\\] or a .json file"):
        layout_views("ring")
