"""A spinning-globe animation of a panorama: ray-cast in torch, saved as GIF or MP4.

The panorama is wrapped on a globe exactly as in :mod:`ganorama.export.mesh` (seen from
outside, north up, not mirrored; frame 0 shows the panorama's forward direction, the
centre column, facing the camera). The globe turns about its vertical axis like the
Earth: its near side moves from left to right, so content comes in from the left.

Rendering works in the globe frame: x right, y up, z towards the camera at frame 0.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.devices import resolve_device
from ganorama.export.io import as_panorama, luminance, sample_equirect, tensor_to_image
from ganorama.export.mesh import WORLD_TO_GLOBE, check_displace, displacement_radius
from ganorama.outputs import write_with

BACKGROUND = 0.12  # dark grey, so both dark and bright panoramas stand out
AMBIENT = 0.3
LIGHT = (-0.45, 0.55, 1.0)  # from the upper left, in front: the camera-side half is lit
MARCH_STEPS = 16  # fixed ray-marching steps through the displacement shell (then bisection)
REFINE_STEPS = 6  # bisection steps after the first crossing: 1/64 of a step


def _to_world(globe: torch.Tensor) -> torch.Tensor:
    """Globe-frame vectors (..., 3) -> our world frame (flip y; its own inverse)."""
    return globe * globe.new_tensor(WORLD_TO_GLOBE)


def _camera_rays(size: int, elevation: float, fov: float, distance: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera on a circle above the equator looking at the origin -> origin (3,) and
    unit ray directions (size, size, 3), globe frame, pixel centres as in geometry."""
    e = math.radians(elevation)
    origin = torch.tensor((0.0, math.sin(e), math.cos(e)), device=device) * distance
    forward = -origin / distance
    right = torch.tensor((1.0, 0.0, 0.0), device=device)
    up = torch.linalg.cross(right, forward)
    grid = geometry.pixel_grid(size, size, device=device)  # x right, y down, in (-1, 1)
    half = math.tan(math.radians(fov) / 2)
    rays = forward + half * grid[..., 0:1] * right - half * grid[..., 1:2] * up
    return origin, F.normalize(rays, dim=-1)


def _sphere_entry(origin: torch.Tensor, rays: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Near intersection distance (P,) of rays (P, 3) from origin (3,) with a sphere
    about the origin, and a hit mask (P,)."""
    b = rays @ origin
    disc = b * b - (origin @ origin - radius * radius)
    hit = disc >= 0
    return -b - disc.clamp_min(0).sqrt(), hit


def _sphere_exit(origin: torch.Tensor, rays: torch.Tensor, radius: float) -> torch.Tensor:
    b = rays @ origin
    disc = b * b - (origin @ origin - radius * radius)
    return -b + disc.clamp_min(0).sqrt()


def _rotate_y(vectors: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate (..., 3) by ``angle`` about +y (right-handed: +z turns towards +x)."""
    c, s = math.cos(angle), math.sin(angle)
    x, y, z = vectors.unbind(-1)
    return torch.stack((c * x + s * z, y, -s * x + c * z), dim=-1)


def _tangent_frame(normal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit tangents (P, 3) orthogonal to unit normals (P, 3) and to each other."""
    helper = torch.where(
        normal[:, 1:2].abs() < 0.9, normal.new_tensor((0.0, 1.0, 0.0)), normal.new_tensor((1.0, 0.0, 0.0))
    )
    first = F.normalize(torch.linalg.cross(helper, normal), dim=-1)
    return first, torch.linalg.cross(normal, first)


def _march(origin, rays, t_start, hit, inner: float, outer: float, radius) -> tuple[torch.Tensor, torch.Tensor]:
    """First intersection of rays (P, 3) with the surface |p| = radius(p) lying between
    the spheres ``inner`` and ``outer``: distances (P,) and a hit mask (P,).

    March fixed steps from the outer sphere to the inner one (solid, so always a hit)
    or, for rays that miss it, to where they leave the outer sphere; stop at the first
    sample inside the surface and bisect between it and the sample before. Only rays
    still searching are evaluated, which is most of the cost saved."""
    t_inner, hit_inner = _sphere_entry(origin, rays, inner)
    t_end = torch.where(hit_inner, t_inner, _sphere_exit(origin, rays, outer))
    step = (t_end - t_start) / (MARCH_STEPS - 1)
    t_hit = t_start.clone()
    found = torch.zeros_like(hit)
    active = torch.nonzero(hit, as_tuple=True)[0]
    for index in range(MARCH_STEPS):
        if active.numel() == 0:
            break
        t_now = t_start[active] + index * step[active]
        points = origin + t_now[:, None] * rays[active]
        inside = points.norm(dim=-1) <= radius(points)
        t_hit[active[inside]] = t_now[inside]
        found[active[inside]] = True
        active = active[~inside]
    rows = torch.nonzero(found, as_tuple=True)[0]
    low = (t_hit[rows] - step[rows]).clamp_min(0)
    high = t_hit[rows]
    for _ in range(REFINE_STEPS):
        middle = (low + high) / 2
        points = origin + middle[:, None] * rays[rows]
        inside = points.norm(dim=-1) <= radius(points)
        high = torch.where(inside, middle, high)
        low = torch.where(inside, low, middle)
    t_hit[rows] = high
    return t_hit, found


def _render_frame(
    albedo_map: torch.Tensor,
    luminance_map: torch.Tensor,
    origin: torch.Tensor,
    rays: torch.Tensor,
    angle: float,
    displace: float,
) -> torch.Tensor:
    """One frame: rays (P, 3) -> colours (3, P). The globe is turned by ``angle``, so
    the rays are turned by -angle into the globe's own frame instead."""
    origin = _rotate_y(origin, -angle)
    rays = _rotate_y(rays, -angle)
    outer = 1 + abs(displace) / 2
    inner = 1 - abs(displace) / 2

    def radius(points: torch.Tensor) -> torch.Tensor:
        return displacement_radius(luminance_map, _to_world(points), displace)

    t, hit = _sphere_entry(origin, rays, outer)
    if displace != 0:
        t, hit = _march(origin, rays, t, hit, inner, outer, radius)
    rows = torch.nonzero(hit, as_tuple=True)[0]  # shade only what the globe covers
    direction = F.normalize(origin + t[rows, None] * rays[rows], dim=-1)
    normal = direction
    if displace != 0:
        # Normal of the surface r(n) n: n - grad_tangent(r) / r, by finite differences
        # about one texel of the panorama.
        epsilon = max(math.pi / luminance_map.shape[-2], 1e-3)
        first, second = _tangent_frame(direction)
        r0 = radius(direction)
        g1 = (radius(F.normalize(direction + epsilon * first, dim=-1)) - r0) / epsilon
        g2 = (radius(F.normalize(direction + epsilon * second, dim=-1)) - r0) / epsilon
        normal = F.normalize(direction - (g1[:, None] * first + g2[:, None] * second) / r0[:, None], dim=-1)

    colour = sample_equirect(albedo_map, _to_world(direction))  # (C, hits)
    light = _rotate_y(F.normalize(origin.new_tensor(LIGHT), dim=0), -angle)
    shade = AMBIENT + (1 - AMBIENT) * (normal @ light).clamp_min(0)
    image = colour.new_full((colour.shape[0], rays.shape[0]), BACKGROUND)
    image[:, rows] = (colour * shade).clamp(0, 1)
    return image


def render_turntable(
    equirect: torch.Tensor,
    frames: int = 36,
    size: int = 256,
    displace: float = 0.0,
    elevation: float = 15.0,
    device=None,
    fov: float = 30.0,
    supersample: int = 2,
    progress: bool = True,
) -> list[torch.Tensor]:
    """Render ``frames`` views of the panorama equirect (3, H, W) in [0, 1] on a globe
    turning once about its vertical axis -> list of (3, size, size) CPU tensors in [0, 1].

    ``displace``: bumpiness as in :func:`ganorama.export.mesh.sphere_mesh`.
    ``elevation``: camera height above the equator, degrees. ``fov``: camera field of
    view, degrees (the globe fills about 90% of it). ``device``: torch device or None
    (CUDA if available). ``supersample``: rays per pixel per axis (anti-aliasing)."""
    if frames < 1 or size < 1 or supersample < 1:
        raise UsageError(f"frames, size and supersample must be >= 1, got {frames}, {size}, {supersample}")
    if not -90 < elevation < 90:
        raise UsageError(f"elevation {elevation} is out of range; allowed: -90 < elevation < 90 degrees")
    if not 1 <= fov < 170:
        raise UsageError(f"fov {fov} is out of range; allowed: 1 to 170 degrees")
    displace = check_displace(displace)
    device = resolve_device(device)
    from tqdm import tqdm

    albedo_map = as_panorama(equirect).to(device=device, dtype=torch.float32)[:3]
    luminance_map = luminance(albedo_map)[None]
    outer = 1 + abs(displace) / 2
    # Distance at which the globe's silhouette spans 90% of the field of view.
    distance = outer / math.sin(0.9 * math.radians(fov) / 2)
    render_size = size * supersample
    origin, rays = _camera_rays(render_size, elevation, fov, distance, device)
    rays = rays.reshape(-1, 3)
    images = []
    for index in tqdm(range(frames), desc="turntable", unit="frame", disable=not progress):
        angle = 2 * math.pi * index / frames
        colour = _render_frame(albedo_map, luminance_map, origin, rays, angle, displace)
        image = colour.reshape(-1, render_size, render_size)
        if supersample > 1:
            image = F.avg_pool2d(image[None], supersample)[0]
        images.append(image.cpu())
    return images


def save_turntable(frames, path: str | os.PathLike, fps: float = 12.0) -> Path:
    """Write frames (list of (3, S, S) tensors in [0, 1], or PIL images) as an animation.

    ``.gif``: Pillow, looping forever (identical consecutive frames are merged by
    Pillow). ``.mp4``: H.264 via imageio-ffmpeg (``pip install ganorama[video]``).
    Written atomically; an existing ``path`` is refused (UsageError)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise UsageError(f"turntable output {str(path)!r} must end in .gif or .mp4")
    if not frames:
        raise UsageError("no frames to save")
    if not 0 < fps <= 100:
        raise UsageError(f"fps {fps} is out of range; allowed: 0 < fps <= 100")
    if path.exists():
        raise UsageError(f"{path} already exists; choose another output name")
    images = [tensor_to_image(frame) if isinstance(frame, torch.Tensor) else frame.convert("RGB") for frame in frames]
    if suffix == ".gif":
        duration = max(1, round(1000 / fps))

        def writer(temp: Path) -> None:
            images[0].save(temp, "GIF", save_all=True, append_images=images[1:], loop=0, duration=duration)

        return write_with(path, writer)

    try:
        import imageio_ffmpeg
    except ImportError:
        raise UsageError("writing .mp4 needs imageio-ffmpeg: pip install ganorama[video] (or write a .gif)") from None
    width, height = images[0].size
    if width % 2 or height % 2:
        raise UsageError(f"an .mp4 needs an even frame size (H.264 4:2:0), got {width}x{height}; choose an even --size")

    def write_mp4(temp: Path) -> None:
        import numpy as np

        writer = imageio_ffmpeg.write_frames(
            str(temp), (width, height), fps=fps, codec="libx264", pix_fmt_in="rgb24",
            macro_block_size=1, output_params=["-f", "mp4"],
        )  # fmt: skip
        writer.send(None)  # start the generator (and ffmpeg)
        try:
            for image in images:
                writer.send(np.ascontiguousarray(np.asarray(image, dtype=np.uint8)))
        finally:
            writer.close()

    return write_with(path, write_mp4)
