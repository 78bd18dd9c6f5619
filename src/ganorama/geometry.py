"""Camera and sphere geometry: the one source of truth for syncing and composing views.

Conventions (see docs/design.md):

- World frame = OpenCV camera frame of the view at azimuth 0, elevation 0: x right,
  y down, z forward.
- Longitude ``lon`` (east/right positive) and latitude ``lat`` (up positive) give the
  direction ``d = (cos lat sin lon, -sin lat, cos lat cos lon)``.
- Equirectangular image of W x H pixels: pixel centre (u + 0.5, v + 0.5) has
  ``lon = 2 pi (u + 0.5) / W - pi`` and ``lat = pi / 2 - pi (v + 0.5) / H``; column W/2
  looks forward, row 0 is the top (north).
- A view is (azimuth, elevation, roll, fov) in radians here: azimuth turns right,
  elevation looks up, roll turns the image clockwise as seen by the viewer, fov is the
  horizontal field of view. Pinhole, square pixels, principal point at the centre.
- A view's h x w feature map covers the same field of view as its output image: pixel
  centres sit at normalised coordinates ``2 (j + 0.5) / w - 1`` (the ``align_corners=False``
  convention of ``grid_sample``), so one camera serves every resolution.

All functions are pure and take device and dtype from their tensor inputs.
"""
from __future__ import annotations

import math

import torch


def lonlat_to_direction(lon: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """(...), (...) radians (broadcasting: a row of longitudes and a column of latitudes
    give a grid, each sine taken once) -> (..., 3) unit directions."""
    cos_lat = torch.cos(lat)
    components = torch.broadcast_tensors(cos_lat * torch.sin(lon), -torch.sin(lat), cos_lat * torch.cos(lon))
    return torch.stack(components, dim=-1)


def direction_to_lonlat(direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 3) directions (any length) -> lon in (-pi, pi], lat in [-pi/2, pi/2]."""
    x, y, z = direction.unbind(-1)
    lon = torch.atan2(x, z)
    lat = torch.atan2(-y, torch.sqrt(x * x + z * z))
    return lon, lat


def equirect_lonlat(height: int, width: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Longitude and latitude of every pixel centre of a W x H equirect image: two (H, W)."""
    lon = column_longitude(torch.arange(width, device=device, dtype=dtype), width)
    lat = row_latitude(torch.arange(height, device=device, dtype=dtype), height)
    return lon.expand(height, width), lat[:, None].expand(height, width)


def column_longitude(column: torch.Tensor, width: int) -> torch.Tensor:
    """Longitude (radians) of the pixel centres of equirect columns (float tensor, any shape)."""
    return 2 * math.pi * (column + 0.5) / width - math.pi


def row_latitude(row: torch.Tensor, height: int) -> torch.Tensor:
    """Latitude (radians) of the pixel centres of equirect rows (float tensor, any shape)."""
    return math.pi / 2 - math.pi * (row + 0.5) / height


def view_radius(fov: torch.Tensor, height: int = 1, width: int = 1) -> torch.Tensor:
    """Angle (radians) from a view's centre to its corners: every direction the view sees
    lies within it. fov (V,) horizontal -> (V,)."""
    tan_x, tan_y = _half_extents(fov, height, width)
    return torch.atan(torch.sqrt(tan_x * tan_x + tan_y * tan_y))


def equirect_cap_window(lon: float, lat: float, radius: float, height: int, width: int,
                        device=None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The rows (R,) and columns (C,) of a W x H equirect image whose pixel centres hold
    every direction within ``radius`` of (lon, lat) (radians): the cap's latitudes and,
    unless it holds a pole, its longitudes (wrapping), a pixel of margin each side. Work on
    the R x C window costs the cap's size, not the image's."""
    top = math.floor((math.pi / 2 - (lat + radius)) * height / math.pi - 0.5) - 1
    bottom = math.ceil((math.pi / 2 - (lat - radius)) * height / math.pi - 0.5) + 1
    rows = torch.arange(max(top, 0), min(bottom, height - 1) + 1, device=device)
    if abs(lat) + radius >= math.pi / 2 - 1e-9:
        return rows, torch.arange(width, device=device)
    # The widest longitude a spherical cap reaches, off the equator.
    half = math.asin(min(1.0, math.sin(radius) / math.cos(lat))) * width / (2 * math.pi)
    centre = (lon + math.pi) * width / (2 * math.pi) - 0.5
    first, last = math.floor(centre - half) - 1, math.ceil(centre + half) + 1
    if last - first + 1 >= width:
        return rows, torch.arange(width, device=device)
    return rows, torch.arange(first, last + 1, device=device) % width


def equirect_directions(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Unit directions of the pixel centres of a W x H equirect image: (H, W, 3)."""
    lon, lat = equirect_lonlat(height, width, device=device, dtype=dtype)
    return lonlat_to_direction(lon, lat)


def direction_to_equirect(direction: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(..., 3) directions -> (..., 2) continuous pixel coordinates (u, v) of a W x H
    equirect image, pixel centres at integers: the centre of pixel (u, v) maps to (u, v)."""
    lon, lat = direction_to_lonlat(direction)
    u = (lon + math.pi) * width / (2 * math.pi) - 0.5
    v = (math.pi / 2 - lat) * height / math.pi - 0.5
    return torch.stack((u, v), dim=-1)


def direction_to_equirect_grid(direction: torch.Tensor) -> torch.Tensor:
    """(..., 3) directions -> (..., 2) ``grid_sample`` coordinates (x, y) in [-1, 1] of an
    equirect image (``align_corners=False``), whatever its size."""
    lon, lat = direction_to_lonlat(direction)
    return torch.stack((lon / math.pi, -2 * lat / math.pi), dim=-1)


def view_rotation(azimuth: torch.Tensor, elevation: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Camera-to-world rotations (..., 3, 3) whose columns are the camera's right, down
    and forward axes in world coordinates. Angles in radians, any matching shapes."""
    forward = lonlat_to_direction(azimuth, elevation)
    zero = torch.zeros_like(azimuth)
    right = torch.stack((torch.cos(azimuth), zero, -torch.sin(azimuth)), dim=-1)
    down = torch.linalg.cross(forward, right)
    cos_roll, sin_roll = torch.cos(roll)[..., None], torch.sin(roll)[..., None]
    rolled_right = cos_roll * right + sin_roll * down
    rolled_down = -sin_roll * right + cos_roll * down
    return torch.stack((rolled_right, rolled_down, forward), dim=-1)


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised coordinates (x, y) of the pixel centres of an h x w map: (h, w, 2),
    each in (-1, 1), ``grid_sample`` convention (``align_corners=False``)."""
    x = (2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1
    y = (2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1
    return torch.stack((x.expand(height, width), y[:, None].expand(height, width)), dim=-1)


def _half_extents(fov: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """tan of the horizontal and vertical half-angles (V,): square pixels, fov horizontal."""
    tan_x = torch.tan(fov / 2)
    return tan_x, tan_x * (height / width)


def view_rays(rotation: torch.Tensor, fov: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """World directions of the pixel centres of V views: rotation (V, 3, 3), fov (V,)
    -> (V, h, w, 3) unit vectors."""
    grid = pixel_grid(height, width, device=rotation.device, dtype=rotation.dtype)
    tan_x, tan_y = _half_extents(fov, height, width)
    camera = torch.stack(
        (
            grid[..., 0] * tan_x[:, None, None],
            grid[..., 1] * tan_y[:, None, None],
            torch.ones_like(grid[..., 0]).expand(fov.shape[0], height, width),
        ),
        dim=-1,
    )  # (V, h, w, 3)
    world = torch.einsum("vij,vhwj->vhwi", rotation, camera)
    return torch.nn.functional.normalize(world, dim=-1)


def project_to_views(
    direction: torch.Tensor, rotation: torch.Tensor, fov: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world directions into V views.

    direction (..., 3); rotation (V, 3, 3); fov (V,) -> normalised image coordinates
    (V, ..., 2) in the ``grid_sample`` convention of an h x w map, and an ``in_front``
    mask (V, ...). Coordinates behind a camera are meaningless (masked out)."""
    camera = torch.einsum("vji,...j->v...i", rotation, direction)  # R^T d
    depth = camera[..., 2]
    in_front = depth > 1e-6
    safe_depth = torch.where(in_front, depth, torch.ones_like(depth))
    tan_x, tan_y = _half_extents(fov, height, width)
    shape = (-1,) + (1,) * (direction.dim() - 1)
    x = camera[..., 0] / (safe_depth * tan_x.view(shape))
    y = camera[..., 1] / (safe_depth * tan_y.view(shape))
    return torch.stack((x, y), dim=-1), in_front


def normalised_to_pixel(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(..., 2) normalised (x, y) -> (..., 2) continuous pixel indices (column, row) where
    pixel centres are integers."""
    column = (coords[..., 0] + 1) * width / 2 - 0.5
    row = (coords[..., 1] + 1) * height / 2 - 0.5
    return torch.stack((column, row), dim=-1)


def bilinear_taps(column: torch.Tensor, row: torch.Tensor, height: int, width: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Bilinear sampling of an h x w map at continuous pixel indices (column, row), each
    (K,), as four taps: flat indices ``row * width + column`` (K, 4) and weights (K, 4)
    summing to 1. Positions outside the pixel-centre range are clamped to it (grid_sample's
    ``padding_mode="border"``); the base is clamped so the last centre is weight 1 on it."""
    column = column.clamp(0, width - 1)
    row = row.clamp(0, height - 1)
    column0 = column.floor().clamp(max=max(width - 2, 0)).long()
    row0 = row.floor().clamp(max=max(height - 2, 0)).long()
    fx, fy = column - column0, row - row0
    column1 = (column0 + 1).clamp(max=width - 1)
    row1 = (row0 + 1).clamp(max=height - 1)
    indices = torch.stack((row0 * width + column0, row0 * width + column1,
                           row1 * width + column0, row1 * width + column1), dim=1)  # fmt: skip
    weights = torch.stack(((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy), dim=1)
    return indices, weights


def border_weight(coords: torch.Tensor) -> torch.Tensor:
    """The seed's blend weight min(1 - |x|, 1 - |y|), clamped at 0: (..., 2) -> (...)."""
    return (1 - coords.abs().amax(dim=-1)).clamp_min(0)
