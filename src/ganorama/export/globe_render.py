"""The globe renderer behind the turntable: a panorama on a globe, ray-cast in torch.

The panorama is wrapped on a globe exactly as in :mod:`ganorama.export.mesh` (seen from
outside, north up, not mirrored; frame 0 shows the panorama's forward direction, the
centre column, facing the camera). The globe turns about its vertical axis like the
Earth: its near side moves from left to right, so content comes in from the left.

Rendering works in the camera's globe frame: x right, y up, z towards the camera at
frame 0. Turning the globe by an angle about its vertical axis only shifts the
longitude at which every point of space reads the panorama, so everything about the
camera rays (where they enter and leave the globe's shell, the points sampled along
them, those points' latitudes and longitudes) is computed once, by
:class:`GlobeRenderer`; each frame then costs a few texture lookups per ray.

Option checks, resource estimates and writing files live in
:mod:`ganorama.export.turntable`; this module takes values already checked.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.export.io import luminance

BACKGROUND = 0.12  # dark grey, so both dark and bright panoramas stand out
AMBIENT = 0.3
LIGHT = (-0.45, 0.55, 1.0)  # from the upper left, in front: the camera-side half is lit
MARCH_STEPS = 16  # samples along each ray through the displacement shell
REFINE_STEPS = 2  # false-position steps between the last sample outside and the first inside
RAY_CHUNK = 65536  # rays processed together: bounds the per-frame temporaries
# Threads for rendering on a CPU. A frame is some hundred tensor operations on 1e5-1e6
# elements each: too small to gain much from more threads, and each one a barrier that
# stalls whenever another process holds a core. On a shared 2-core CPU two threads made
# a frame 10-30x slower than one (benchmarks/turntable.py --threads).
CPU_RENDER_THREADS = 1
SAMPLE_CACHE_BYTES = 256 * 2**20  # ray samples kept between frames; beyond it, recomputed


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


def _lonlat(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Globe-frame points (..., 3) -> the longitude and latitude (...) they show of the
    unturned globe (the world frame of :mod:`ganorama.geometry` is this one with y flipped)."""
    x, y, z = points.unbind(-1)
    return torch.atan2(x, z), torch.atan2(y, torch.sqrt(x * x + z * z))


def _pad_columns(maps: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (C, H, W + 2) with the last column before the first and the first
    after the last, so bilinear lookups blend across the seam instead of clamping."""
    return torch.cat((maps[..., -1:], maps, maps[..., :1]), dim=-1)


def _lookup(padded: torch.Tensor, lon: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (C, N) of padded equirect maps (C, H, W + 2) at longitudes (N,)
    (any value: wrapped) and latitudes (N,), exactly as ``io.sample_equirect`` samples."""
    width = padded.shape[-1] - 2
    lon = torch.remainder(lon + math.pi, 2 * math.pi) - math.pi
    grid = torch.stack((lon * (width / ((width + 2) * math.pi)), lat * (-2 / math.pi)), dim=-1)
    samples = F.grid_sample(padded[None], grid.view(1, 1, -1, 2), mode="bilinear", padding_mode="border",
                            align_corners=False)  # fmt: skip
    return samples[0, :, 0]


def _two_turns(radius: torch.Tensor) -> torch.Tensor:
    """Radius map (H, W) -> (1, 1, H, 2 W + 2): the map twice side by side (longitudes
    -pi to 3 pi), padded like :func:`_pad_columns`. Sample points read it at their
    longitude + 2 pi - turn, in range for any turn in [0, 2 pi) without wrapping."""
    return _pad_columns(torch.cat((radius, radius), dim=-1)[None])[None]


def _two_turns_x(lon: torch.Tensor, width: int) -> torch.Tensor:
    """``grid_sample`` x of longitudes (any shape) + 2 pi in :func:`_two_turns`'s map of
    a W-wide panorama; a turn by ``angle`` subtracts ``angle * width / (pi (2 W + 2))``."""
    return ((lon + 3 * math.pi) * (width / math.pi) + 2) / (2 * width + 2) - 1


def _slopes(radius: torch.Tensor) -> torch.Tensor:
    """Radius map (H, W) -> (2, H, W): its slopes east and north per unit of arc, by
    central differences about one texel (pi / H) of arc either side, as the normals of
    the surface r(n) n need. East, the neighbours are whole columns away (the same
    number along a row): near the poles one texel of arc spans many columns, and
    differences of adjacent columns there would give absurd slopes."""
    height, width = radius.shape
    _, lat = geometry.equirect_lonlat(height, 1, device=radius.device, dtype=radius.dtype)
    texel = 2 * math.pi / width  # radians of longitude per column
    cos_lat = lat[:, 0].cos()
    shift = (1 / cos_lat).round().clamp(1, max(1, width // 4)).long()  # (H,) columns
    columns = torch.arange(width, device=radius.device)
    east_of = radius.gather(1, (columns + shift[:, None]) % width)
    west_of = radius.gather(1, (columns - shift[:, None]) % width)
    east = (east_of - west_of) / (2 * shift * texel * cos_lat)[:, None]
    # North: the rows above and below (the same row at a pole: one-sided there).
    above = torch.cat((radius[:1], radius[:-1]))
    below = torch.cat((radius[1:], radius[-1:]))
    rows_apart = torch.full((height, 1), 2.0, device=radius.device, dtype=radius.dtype)
    rows_apart[0] = rows_apart[-1] = 1.0
    north = (above - below) / (rows_apart * (math.pi / height))
    return torch.stack((east, north))


def _surface_maps(albedo: torch.Tensor, displace: float) -> torch.Tensor:
    """Per-panorama-pixel maps for shading, padded (:func:`_pad_columns`): albedo
    (3, H, W) -> (3, H, W + 2) for a flat globe; with displacement (6, H, W + 2):
    albedo, radius 1 + displace * (luminance - 0.5) and the radius's slopes east and north."""
    if displace == 0:
        return _pad_columns(albedo)
    radius = 1 + displace * (luminance(albedo) - 0.5)  # (H, W)
    return _pad_columns(torch.cat((albedo, radius[None], _slopes(radius))))


class _RaySamples(NamedTuple):
    """Where P rays meet the shell, precomputed for every frame: ``grid`` (P, K, 2)
    ``grid_sample`` coordinates of the K samples in the two-turn map at turn 0,
    ``distance`` (P, K) of the samples from the centre, ``start`` and ``step`` (P,)."""

    grid: torch.Tensor
    distance: torch.Tensor
    start: torch.Tensor
    step: torch.Tensor


def _ray_samples(origin, rays, start, inner: float, outer: float, width: int) -> _RaySamples:
    """MARCH_STEPS samples of rays (P, 3) from their entry ``start`` (P,) into the outer
    sphere to the inner sphere (solid, so a hit for sure) or, for rays that miss it, to
    where they leave the outer sphere."""
    t_inner, hit_inner = _sphere_entry(origin, rays, inner)
    end = torch.where(hit_inner, t_inner, _sphere_exit(origin, rays, outer))
    step = (end - start) / (MARCH_STEPS - 1)
    t = start[:, None] + torch.arange(MARCH_STEPS, device=rays.device, dtype=rays.dtype) * step[:, None]
    points = origin + t[..., None] * rays[:, None]  # (P, K, 3)
    lon, lat = _lonlat(points)
    grid = torch.stack((_two_turns_x(lon, width), lat * (-2 / math.pi)), dim=-1)
    return _RaySamples(grid, points.norm(dim=-1), start, step)


def _first_hit(
    samples: _RaySamples, origin, rays, two_turns, padded_radius, angle: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (P,) to where rays (P, 3) first meet the surface |p| = radius(p) of the
    globe turned by ``angle``, and a hit mask (P,): the first sample inside, then
    false position between it and the sample before."""
    width = padded_radius.shape[-1] - 2
    grid = samples.grid - samples.grid.new_tensor((angle * width / (math.pi * (2 * width + 2)), 0.0))
    count, steps = samples.distance.shape
    radius = F.grid_sample(two_turns, grid.view(1, 1, -1, 2), mode="bilinear", padding_mode="border",
                           align_corners=False).view(count, steps)  # fmt: skip
    gap = samples.distance - radius  # > 0 outside the surface, <= 0 inside
    inside = gap <= 0
    found = inside.any(dim=1)
    first = inside.to(torch.uint8).argmax(dim=1)  # the first inside sample (0 where none)
    t = samples.start + first * samples.step
    rows = torch.nonzero(found & (first > 0), as_tuple=True)[0]  # a bracket to refine
    index = first[rows]
    t_in, gap_in = t[rows], gap[rows, index]
    t_out, gap_out = t_in - samples.step[rows], gap[rows, index - 1]
    for _ in range(REFINE_STEPS):
        t_mid = t_out + (t_in - t_out) * gap_out / (gap_out - gap_in)
        points = origin + t_mid[:, None] * rays[rows]
        lon, lat = _lonlat(points)
        gap_mid = points.norm(dim=-1) - _lookup(padded_radius, lon - angle, lat)[0]
        now_inside = gap_mid <= 0
        t_in, gap_in = torch.where(now_inside, t_mid, t_in), torch.where(now_inside, gap_mid, gap_in)
        t_out, gap_out = torch.where(now_inside, t_out, t_mid), torch.where(now_inside, gap_out, gap_mid)
    t[rows] = t_out + (t_in - t_out) * gap_out / (gap_out - gap_in)
    return t, found


def _shade(points: torch.Tensor, surface: torch.Tensor, angle: float) -> torch.Tensor:
    """Colours (3, P) of surface points (P, 3) of the globe turned by ``angle``, lit by
    LIGHT (fixed to the camera). ``surface``: :func:`_surface_maps`'s padded maps."""
    direction = F.normalize(points, dim=-1)
    lon, lat = _lonlat(direction)
    maps = _lookup(surface, lon - angle, lat)  # the turned globe shows lon - angle here
    normal = direction
    if maps.shape[0] > 3:
        # Normal of the surface r(n) n: n - grad_tangent(r) / r, the gradient from the
        # slope maps along the local east and north (which turn with the globe).
        radius, slope_east, slope_north = maps[3], maps[4], maps[5]
        cos_lon, sin_lon, cos_lat, sin_lat = lon.cos(), lon.sin(), lat.cos(), lat.sin()
        east = torch.stack((cos_lon, torch.zeros_like(lon), -sin_lon), dim=-1)
        north = torch.stack((-sin_lat * sin_lon, cos_lat, -sin_lat * cos_lon), dim=-1)
        gradient = slope_east[:, None] * east + slope_north[:, None] * north
        normal = F.normalize(direction - gradient / radius[:, None], dim=-1)
    light = F.normalize(points.new_tensor(LIGHT), dim=0)
    shade = AMBIENT + (1 - AMBIENT) * (normal @ light).clamp_min(0)
    return (maps[:3] * shade).clamp(0, 1)


@contextlib.contextmanager
def render_threads(device: torch.device) -> Iterator[None]:
    """Run the block with CPU_RENDER_THREADS intra-op threads on a CPU device, restoring
    the previous count after (process-wide while it runs, as torch's setting is)."""
    previous = torch.get_num_threads()
    if device.type != "cpu" or previous <= CPU_RENDER_THREADS:
        yield
        return
    torch.set_num_threads(CPU_RENDER_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class GlobeRenderer:
    """Everything about the animation that does not change from frame to frame, for an
    albedo (3, H, W) on its device and options already checked (as
    :class:`ganorama.export.turntable.TurntableOptions` does); :meth:`frame` renders one."""

    def __init__(self, albedo: torch.Tensor, size: int, displace: float, elevation: float, fov: float,
                 supersample: int):  # fmt: skip
        self.size, self.supersample, self.displace = size, supersample, displace
        self.render_size = size * supersample
        self.outer = 1 + abs(displace) / 2
        self.inner = 1 - abs(displace) / 2
        # Distance at which the globe's silhouette spans 90% of the field of view.
        distance = self.outer / math.sin(0.9 * math.radians(fov) / 2)
        self.origin, rays = _camera_rays(self.render_size, elevation, fov, distance, albedo.device)
        rays = rays.reshape(-1, 3)
        start, hit = _sphere_entry(self.origin, rays, self.outer)
        self.hit_index = torch.nonzero(hit, as_tuple=True)[0]  # only rays that meet the shell matter
        self.rays, self.start = rays[self.hit_index], start[self.hit_index]
        self.surface = _surface_maps(albedo, displace)
        self.width = albedo.shape[-1]
        if displace != 0:
            radius = self.surface[3, :, 1:-1]
            self.padded_radius = self.surface[3:4]
            self.two_turns = _two_turns(radius)
        self._cache: dict[int, _RaySamples] = {}
        self._cached_bytes = 0

    def _samples(self, chunk: slice) -> _RaySamples:
        cached = self._cache.get(chunk.start)
        if cached is not None:
            return cached
        samples = _ray_samples(self.origin, self.rays[chunk], self.start[chunk], self.inner, self.outer, self.width)
        size = sum(tensor.numel() * tensor.element_size() for tensor in samples)
        if self._cached_bytes + size <= SAMPLE_CACHE_BYTES:
            self._cache[chunk.start] = samples
            self._cached_bytes += size
        return samples

    def frame(self, angle: float) -> torch.Tensor:
        """The globe turned by ``angle`` radians -> (3, size, size) in [0, 1], on the CPU."""
        image = self.rays.new_full((3, self.render_size * self.render_size), BACKGROUND)
        for first in range(0, self.rays.shape[0], RAY_CHUNK):
            chunk = slice(first, first + RAY_CHUNK)
            rays, t = self.rays[chunk], self.start[chunk]
            pixels = self.hit_index[chunk]
            if self.displace != 0:
                t, found = _first_hit(self._samples(chunk), self.origin, rays, self.two_turns, self.padded_radius,
                                      angle)  # fmt: skip
                rays, t, pixels = rays[found], t[found], pixels[found]
            image[:, pixels] = _shade(self.origin + t[:, None] * rays, self.surface, angle)
        image = image.view(3, self.render_size, self.render_size)
        if self.supersample > 1:
            image = F.avg_pool2d(image[None], self.supersample)[0]
        return image.cpu()
