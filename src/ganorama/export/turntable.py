"""A spinning-globe animation of a panorama: ray-cast in torch, streamed to a GIF or MP4.

The panorama is wrapped on a globe exactly as in :mod:`ganorama.export.mesh` (seen from
outside, north up, not mirrored; frame 0 shows the panorama's forward direction, the
centre column, facing the camera). The globe turns about its vertical axis like the
Earth: its near side moves from left to right, so content comes in from the left.

Rendering works in the camera's globe frame: x right, y up, z towards the camera at
frame 0. Turning the globe by an angle about its vertical axis only shifts the
longitude at which every point of space reads the panorama, so everything about the
camera rays (where they enter and leave the globe's shell, the points sampled along
them, those points' latitudes and longitudes) is computed once; each frame then costs
a few texture lookups per ray. Frames are produced one at a time and written as they
come, so a long animation needs no more memory than a short one.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.errors import GanoramaError, UsageError
from ganorama.devices import resolve_device
from ganorama.export.io import PanoramaSource, as_panorama, luminance, panorama_size, tensor_to_image
from ganorama.export.mesh import check_displace
from ganorama.outputs import write_with

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
MAX_FRAMES = 3600  # one turn in 0.1 degree steps: 5 minutes at 12 fps
GIF_MAX_SIZE = 65535  # GIF stores widths and heights in 16 bits
SUFFIXES = (".gif", ".mp4")
# Memory estimate, checked with benchmarks/turntable.py (peak RSS growth while
# rendering, sizes 256 to 1024, a 2000 x 1000 panorama, displaced: 150, 228 and 596 MiB;
# the estimate says 273, 489 and 841 MiB). Per rendered (supersampled) pixel: rays, their
# sphere distances and masks, one frame's colours, chunk and shading temporaries.
RENDER_BYTES_PER_PIXEL = 96
# Per panorama pixel: the padded surface maps (albedo, radius, slopes), the two-turn
# radius map and the temporaries that build them.
PANORAMA_BYTES_PER_PIXEL = 72
# Per rendered pixel and march sample, the cached samples (grid 8 + distance 4 bytes),
# up to SAMPLE_CACHE_BYTES.
CACHE_BYTES_PER_SAMPLE = 12
# Upper estimates of the file: a GIF's LZW codes rarely exceed 1.5 bytes per pixel even
# on noise, plus a 768-byte palette per frame; H.264 at imageio-ffmpeg's default quality
# stays far below 0.5 bytes per pixel.
GIF_BYTES_PER_PIXEL = 1.5
MP4_BYTES_PER_PIXEL = 0.5
FIXED_OVERHEAD_BYTES = 64 * 2**20  # chunk temporaries and encoder buffers


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
def _render_threads(device: torch.device) -> Iterator[None]:
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


class _Turntable:
    """Everything about the animation that does not change from frame to frame."""

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


def check_turntable_options(frames: int, size: int, elevation: float = 15.0, fov: float = 30.0,
                            supersample: int = 2, displace: float = 0.0) -> None:  # fmt: skip
    """UsageError (one line) for values the renderer cannot use, before any work."""
    if not 1 <= frames <= MAX_FRAMES:
        raise UsageError(f"frames {frames} is out of range; allowed: 1 to {MAX_FRAMES} (one turn in 0.1 degree steps)")
    if size < 1 or supersample < 1:
        raise UsageError(f"size and supersample must be >= 1, got {size}, {supersample}")
    if not -90 < elevation < 90:
        raise UsageError(f"elevation {elevation} is out of range; allowed: -90 < elevation < 90 degrees")
    if not 1 <= fov < 170:
        raise UsageError(f"fov {fov} is out of range; allowed: 1 to 170 degrees")
    check_displace(displace)


def turntable_memory_bytes(size: int, supersample: int, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of rendering a turntable of ``size`` from a W x H
    panorama; the frame count does not matter, frames are streamed."""
    render_pixels = (size * supersample) ** 2
    cache = min(SAMPLE_CACHE_BYTES, CACHE_BYTES_PER_SAMPLE * MARCH_STEPS * render_pixels)
    return (RENDER_BYTES_PER_PIXEL * render_pixels + PANORAMA_BYTES_PER_PIXEL * height * width + cache
            + FIXED_OVERHEAD_BYTES)  # fmt: skip


def turntable_file_bytes(frames: int, size: int, suffix: str) -> int:
    """Estimated upper size (bytes) of the animation file."""
    if suffix.lower() == ".gif":
        return int(frames * (GIF_BYTES_PER_PIXEL * size * size + 1024))
    return int(frames * MP4_BYTES_PER_PIXEL * size * size) + 4096


def _check_output(path: Path, frames: int, size: int, fps: float) -> None:
    """Everything about the output that can be checked without the panorama."""
    from ganorama.export.destination import check_output_file

    check_output_file(path, SUFFIXES, "turntable output")
    if not 0 < fps <= 100:
        raise UsageError(f"fps {fps} is out of range; allowed: 0 < fps <= 100")
    if path.suffix.lower() == ".gif" and size > GIF_MAX_SIZE:
        raise UsageError(f"size {size} is too large for a GIF; allowed: at most {GIF_MAX_SIZE}")
    if path.suffix.lower() == ".mp4":
        _require_imageio_ffmpeg()
        if size % 2:
            raise UsageError(
                f"an .mp4 needs an even frame size (H.264 4:2:0), got {size}x{size}; choose an even --size"
            )


def _require_imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UsageError("writing .mp4 needs imageio-ffmpeg: pip install ganorama[video] (or write a .gif)") from None
    return imageio_ffmpeg


def iter_turntable(
    equirect: torch.Tensor,
    frames: int = 36,
    size: int = 256,
    displace: float = 0.0,
    elevation: float = 15.0,
    device=None,
    fov: float = 30.0,
    supersample: int = 2,
    progress: bool = False,
) -> Iterator[torch.Tensor]:
    """Render ``frames`` views of the panorama equirect (3, H, W) in [0, 1] on a globe
    turning once about its vertical axis, one at a time: an iterator of (3, size, size)
    CPU tensors in [0, 1]. Arguments are checked now, frames rendered as they are taken.

    ``displace``: bumpiness as in :func:`ganorama.export.mesh.sphere_mesh`.
    ``elevation``: camera height above the equator, degrees. ``fov``: camera field of
    view, degrees (the globe fills about 90% of it). ``device``: torch device or None
    (CUDA if available). ``supersample``: rays per pixel per axis (anti-aliasing).
    ``progress``: a progress bar on stderr, shown only when stderr is a terminal."""
    check_turntable_options(frames, size, elevation, fov, supersample, displace)
    displace = float(displace)
    device = resolve_device(device)
    albedo = as_panorama(equirect).to(device=device, dtype=torch.float32)[:3]
    check_turntable_memory(size, supersample, *albedo.shape[-2:])
    return _frames(albedo, frames, size, displace, elevation, fov, supersample, progress)


def _frames(albedo, frames, size, displace, elevation, fov, supersample, progress) -> Iterator[torch.Tensor]:
    from tqdm import tqdm

    with _render_threads(albedo.device):
        scene = _Turntable(albedo, size, displace, elevation, fov, supersample)
    show = progress and sys.stderr is not None and sys.stderr.isatty()
    for index in tqdm(range(frames), desc="turntable", unit="frame", disable=not show, file=sys.stderr):
        # Only the rendering itself: the consumer (an encoder) runs with the caller's setting.
        with _render_threads(albedo.device):
            frame = scene.frame(2 * math.pi * index / frames)
        yield frame


def check_turntable_memory(size: int, supersample: int, height: int, width: int) -> None:
    from ganorama.resources import check_memory

    what = f"a turntable of size {size} (rendered at {size * supersample}) from a {width}x{height} panorama"
    check_memory(turntable_memory_bytes(size, supersample, height, width), what)


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
    """All frames of :func:`iter_turntable` as a list of (3, size, size) CPU tensors. Holds
    every frame in memory: to write a file, :func:`write_turntable` streams instead."""
    return list(iter_turntable(equirect, frames, size, displace, elevation, device, fov, supersample, progress))


def turntable_palette(equirect: PanoramaSource):
    """A 256-colour palette (a PIL "P" image) for every GIF frame of a turntable of this
    panorama (path, PIL image or (3, H, W) tensor in [0, 1]): its colours under the whole
    range of shading the globe gets, and the background. One palette for the whole
    animation is ~100x faster than quantising each frame on its own and cannot flicker
    from frame to frame (mean error on benchmarks/turntable.py's panorama: 6.2 levels of
    255 against 5.2 for per-frame palettes)."""
    from PIL import Image

    albedo = as_panorama(equirect).float()[:3]
    height, width = albedo.shape[-2:]
    small = F.interpolate(albedo[None].cpu(), size=(min(height, 128), min(width, 256)), mode="area")[0]
    shades = torch.linspace(1.0, AMBIENT, 6)
    tiles = [(small * shade).clamp(0, 1) for shade in shades] + [torch.full_like(small[:, :4], BACKGROUND)]
    return tensor_to_image(torch.cat(tiles, dim=1)).convert("P", palette=Image.Palette.ADAPTIVE)


def save_turntable(frames: Iterable, path: str | os.PathLike, fps: float = 12.0, palette=None) -> Path:
    """Write frames (an iterable of (3, S, S) tensors in [0, 1] or PIL images, e.g. from
    :func:`iter_turntable`) as an animation, each frame written as it arrives.

    ``.gif``: looping forever; every frame in ``palette``'s colours (a PIL "P" image, e.g.
    :func:`turntable_palette`) or, if None, in its own adaptive palette. ``.mp4``: H.264
    via imageio-ffmpeg (``pip install ganorama[video]``). Written atomically (nothing is
    left behind if writing fails or is interrupted); an existing ``path`` is refused."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"turntable output {str(path)!r} must end in .gif or .mp4")
    if not 0 < fps <= 100:
        raise UsageError(f"fps {fps} is out of range; allowed: 0 < fps <= 100")
    if path.exists():
        raise UsageError(f"{path} already exists; choose another output name")
    images = (tensor_to_image(frame) if isinstance(frame, torch.Tensor) else frame.convert("RGB") for frame in frames)
    first = next(images, None)
    if first is None:
        raise UsageError("no frames to save")
    images = itertools.chain((first,), images)
    if path.suffix.lower() == ".gif":
        return write_with(path, lambda temp: _write_gif(temp, images, first.size, fps, palette))
    imageio_ffmpeg = _require_imageio_ffmpeg()
    width, height = first.size
    if width % 2 or height % 2:
        raise UsageError(f"an .mp4 needs an even frame size (H.264 4:2:0), got {width}x{height}; choose an even --size")
    return write_with(path, lambda temp: _write_mp4(imageio_ffmpeg, temp, images, first.size, fps))


def _write_gif(temp: Path, images: Iterator, size: tuple[int, int], fps: float, palette=None) -> None:
    """A looping GIF, one frame at a time: Pillow's own multi-frame writer keeps every
    frame until the end (to merge duplicates), so the header and frames are assembled
    here with its documented per-frame helpers ``getheader`` and ``getdata``. With a
    shared ``palette`` it is the global colour table; otherwise each frame has its own."""
    from PIL import GifImagePlugin, Image

    duration = max(1, round(1000 / fps))
    with open(temp, "wb") as file:
        for index, image in enumerate(images):
            if image.size != size:
                raise UsageError(f"frame {index} is {image.size[0]}x{image.size[1]}; frame 0 is {size[0]}x{size[1]}")
            if palette is None:
                frame = image.convert("P", palette=Image.Palette.ADAPTIVE)  # what Pillow does for RGB frames
            else:
                frame = image.quantize(palette=palette, dither=Image.Dither.NONE)
            if index == 0:
                header, _ = GifImagePlugin.getheader(frame, None, {"loop": 0, "duration": duration})
                file.write(b"".join(header))
            for block in GifImagePlugin.getdata(frame, (0, 0), duration=duration, include_color_table=palette is None):
                file.write(block)
            file.flush()  # on disk as it comes, not in a buffer
        file.write(b";")  # trailer


def _write_mp4(imageio_ffmpeg, temp: Path, images: Iterator, size: tuple[int, int], fps: float) -> None:
    """H.264 through imageio-ffmpeg's writer, which takes frames one at a time. It does
    not report ffmpeg failing as it finishes the file (a full disk, say), so the file is
    read back: unless ffmpeg finds every frame in it, it is not kept."""
    import numpy as np

    writer = imageio_ffmpeg.write_frames(
        str(temp), size, fps=fps, codec="libx264", pix_fmt_in="rgb24", macro_block_size=1, output_params=["-f", "mp4"],
    )  # fmt: skip
    writer.send(None)  # start the generator (and ffmpeg)
    count = 0
    try:
        for count, image in enumerate(images, start=1):
            if image.size != size:
                width, height = image.size
                raise UsageError(f"frame {count - 1} is {width}x{height}; frame 0 is {size[0]}x{size[1]}")
            writer.send(np.ascontiguousarray(np.asarray(image, dtype=np.uint8)))
    except OSError as error:  # ffmpeg died (disk full, ...): its pipe broke
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise GanoramaError(f"writing the .mp4 failed after {count - 1} frames: {first_line}") from None
    finally:
        writer.close()
    try:
        found, _ = imageio_ffmpeg.count_frames_and_secs(str(temp))
    except (OSError, RuntimeError) as error:
        found = f"none ({' '.join(str(error).split())[:200]})"
    if found != count:
        raise GanoramaError(f"ffmpeg did not finish the .mp4: {count} frames sent, {found} in the file")


def write_turntable(
    equirect: PanoramaSource,
    path: str | os.PathLike,
    frames: int = 36,
    size: int = 256,
    fps: float = 12.0,
    displace: float = 0.0,
    elevation: float = 15.0,
    device=None,
    fov: float = 30.0,
    supersample: int = 2,
    progress: bool = True,
) -> Path:
    """Render a turntable of a panorama (path, PIL image or (3, H, W) tensor in [0, 1])
    and stream it to ``path`` (.gif or .mp4), frame by frame; returns the path.

    Checked before anything is read or rendered: the output (suffix, not existing,
    writable, .mp4 support), every option, then, from the panorama's size alone, that
    the memory and the disk space needed are there. Options as in
    :func:`iter_turntable` and :func:`save_turntable`."""
    from ganorama.resources import check_disk

    path = Path(path)
    _check_output(path, frames, size, fps)
    check_turntable_options(frames, size, elevation, fov, supersample, displace)
    device = resolve_device(device)
    height, width = panorama_size(equirect)
    check_turntable_memory(size, supersample, height, width)
    check_disk(turntable_file_bytes(frames, size, path.suffix), path, f"a {frames}-frame turntable of size {size}")
    # All of it on one CPU thread: besides rendering, decoding the panorama, the palette
    # and each frame's conversion to 8 bits are small ops that only stall on more.
    with _render_threads(device):
        panorama = as_panorama(equirect)
        palette = turntable_palette(panorama) if path.suffix.lower() == ".gif" else None
        stream = iter_turntable(panorama, frames, size, displace, elevation, device, fov, supersample, progress)
        return save_turntable(stream, path, fps=fps, palette=palette)
