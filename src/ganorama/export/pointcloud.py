"""Coloured point clouds: binary PLY files, and an optional interactive open3d viewer.

Point clouds are given in the globe frame of :mod:`ganorama.export.mesh` (+Y up, the
panorama's forward at +Z, east at +X), which is what PLY viewers and open3d expect;
:func:`panorama_points` and :func:`views_points` convert from our world frame.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from ganorama import geometry
from ganorama.errors import GanoramaError, UsageError, install_hint
from ganorama.files import write_with

_OPEN3D_MISSING = f"open3d is not installed: pip install open3d, or {install_hint('pointcloud')}"


def _as_numpy(array, dtype) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.asarray(array).astype(dtype, copy=False)


def _check_points(points, colours) -> tuple[np.ndarray, np.ndarray]:
    """Validate -> points (N, 3) float32 and colours (N, 3) uint8 as numpy arrays."""
    points = _as_numpy(points, np.float32)
    # Refuse rather than guess whether float colours are in [0, 1] or [0, 255].
    if isinstance(colours, torch.Tensor) and colours.dtype != torch.uint8:
        raise UsageError(f"point colours must be uint8 (0-255), got {colours.dtype}")
    if isinstance(colours, np.ndarray) and colours.dtype != np.uint8:
        raise UsageError(f"point colours must be uint8 (0-255), got {colours.dtype}")
    colours = _as_numpy(colours, np.uint8)
    if points.ndim != 2 or points.shape[1] != 3:
        raise UsageError(f"points must have shape (N, 3), got {points.shape}")
    if colours.shape != points.shape:
        raise UsageError(f"colours must have shape {points.shape} like the points, got {colours.shape}")
    if not np.isfinite(points).all():
        raise UsageError("points contain NaN or infinite coordinates")
    return points, colours


def ply_bytes(points, colours) -> bytes:
    """Binary little-endian PLY: one ``vertex`` element with float x, y, z and uchar
    red, green, blue. points (N, 3) float; colours (N, 3) uint8."""
    points, colours = _check_points(points, colours)
    record = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    data = np.empty(len(points), dtype=record)
    for index, axis in enumerate("xyz"):
        data[axis] = points[:, index]
    for index, channel in enumerate(("red", "green", "blue")):
        data[channel] = colours[:, index]
    header = (
        "ply\n"
        "format binary_little_endian 1.0\n"
        "comment written by ganorama\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    )
    return header.encode("ascii") + data.tobytes()


def write_ply(path: str | os.PathLike, points, colours) -> Path:
    """Write a coloured point cloud (points (N, 3) float, colours (N, 3) uint8; tensors
    or arrays) as binary PLY, atomically; an existing ``path`` is refused (UsageError)."""
    data = ply_bytes(points, colours)
    return write_with(path, lambda temp: temp.write_bytes(data))


def panorama_points(
    equirect: torch.Tensor, displace: float = 0.0, stride: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``stride``-th pixel of equirect (3, H, W) in [0, 1] as a point on the
    (optionally bumpy, as in :func:`ganorama.export.mesh.sphere_mesh`) globe ->
    points (N, 3) float32 in the globe frame, colours (N, 3) uint8."""
    from ganorama.export.mesh import WORLD_TO_GLOBE, displacement_radius

    equirect = equirect.float()
    height, width = equirect.shape[-2:]
    directions = geometry.equirect_directions(height, width, device=equirect.device)[::stride, ::stride]
    radius = displacement_radius(equirect, directions, float(displace))
    flip = torch.tensor(WORLD_TO_GLOBE, device=equirect.device)
    points = (radius[..., None] * directions * flip).reshape(-1, 3)
    colours = (equirect[:3, ::stride, ::stride].clamp(0, 1) * 255).round().to(torch.uint8)
    return points, colours.permute(1, 2, 0).reshape(-1, 3)


def views_points(views: torch.Tensor, cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated views (V, 3, S, S) in [0, 1] placed on the unit sphere along their
    camera rays -> points (V*S*S, 3) in the globe frame, colours (V*S*S, 3) uint8.

    ``cameras``: V objects or dicts with azimuth, elevation, roll, fov in degrees (the
    sphere canvas's views, e.g. a panorama result's ``canvas.views``)."""
    from ganorama.export.mesh import WORLD_TO_GLOBE

    def angle(camera, name, default=0.0):
        value = camera.get(name, default) if isinstance(camera, dict) else getattr(camera, name, default)
        return float(value)

    cameras = list(cameras)
    if len(cameras) != views.shape[0]:
        raise UsageError(f"got {len(cameras)} cameras for {views.shape[0]} views")
    degrees = torch.tensor(
        [[angle(c, "azimuth"), angle(c, "elevation"), angle(c, "roll"), angle(c, "fov", 90.0)] for c in cameras],
        dtype=torch.float64,
    ).deg2rad()
    rotation = geometry.view_rotation(degrees[:, 0], degrees[:, 1], degrees[:, 2])
    rays = geometry.view_rays(rotation, degrees[:, 3], views.shape[-2], views.shape[-1]).float()
    points = (rays * torch.tensor(WORLD_TO_GLOBE)).reshape(-1, 3)
    colours = (views.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return points, colours.permute(0, 2, 3, 1).reshape(-1, 3)


def require_open3d():
    """The open3d module, or a GanoramaError saying how to install it."""
    try:
        import open3d
    except ImportError:
        raise GanoramaError(_OPEN3D_MISSING) from None
    return open3d


def _require_display() -> None:
    """GanoramaError when no window can be opened (Linux without X11/Wayland)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise GanoramaError(
            "no display to open the point cloud viewer on (DISPLAY is not set); "
            "write a PLY file with write_ply() and open it elsewhere instead"
        )


def view_point_cloud(points, colours, window_name: str = "ganorama") -> None:
    """Show a coloured point cloud (points (N, 3) float, colours (N, 3) uint8) in an
    interactive open3d window; returns when the window is closed."""
    points, colours = _check_points(points, colours)
    open3d = require_open3d()
    _require_display()
    cloud = open3d.geometry.PointCloud()
    cloud.points = open3d.utility.Vector3dVector(points.astype(np.float64))
    cloud.colors = open3d.utility.Vector3dVector(colours.astype(np.float64) / 255.0)
    open3d.visualization.draw_geometries([cloud], window_name=window_name)


def show_views_point_cloud(result) -> None:
    """Show a panorama result's raw views (``result.views`` (V, 3, S, S), cameras in
    ``result.canvas.views``) as a point cloud on the sphere, like the seed did."""
    cameras = getattr(getattr(result, "canvas", None), "views", None)
    if not cameras:
        raise UsageError("this result has no sphere cameras to place its views with (only panoramas have)")
    points, colours = views_points(result.views, cameras)
    view_point_cloud(points, colours)
