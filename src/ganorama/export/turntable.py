"""A spinning-globe animation of a panorama: its options, its checks and the write.

The panorama turns once on a globe (rendered by :mod:`ganorama.export.globe_render`,
which says how it is oriented and lit), and the frames go to a GIF or an MP4
(:mod:`ganorama.export.animation`). Frames are produced one at a time and written as
they come, so a long animation needs no more memory than a short one.

- :class:`TurntableOptions`: the options as one value, every option checked as it is made
- :func:`write_turntable` (panorama, path, ...) -> Path: render and stream to a file
- :func:`iter_turntable`, :func:`render_turntable`: the frames as tensors
- :func:`save_turntable`, :func:`turntable_palette`: frames to a file, the GIF's palette

Each public function makes one :class:`TurntableOptions` and passes it down, so a write
checks each thing once, in this order, before the panorama is decoded or a frame
rendered: the output file, the options (with what the output's format needs), the
device, then, from the panorama's size alone, the memory and the disk space.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ganorama.checks import check_displace
from ganorama.devices import resolve_device
from ganorama.errors import UsageError
from ganorama.export.animation import SUFFIXES, check_format, check_fps, encode, save_turntable, turntable_file_bytes
from ganorama.export.globe_render import (AMBIENT, BACKGROUND, MARCH_STEPS, SAMPLE_CACHE_BYTES, GlobeRenderer,
                                          render_threads)  # fmt: skip
from ganorama.export.io import PanoramaSource, as_panorama, panorama_size, tensor_to_image

__all__ = ["BACKGROUND", "MAX_FRAMES", "SUFFIXES", "TurntableOptions", "check_turntable_memory", "iter_turntable",
           "render_turntable", "save_turntable", "turntable_file_bytes", "turntable_memory_bytes",
           "turntable_palette", "write_turntable"]  # fmt: skip

MAX_FRAMES = 3600  # one turn in 0.1 degree steps: 5 minutes at 12 fps
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
FIXED_OVERHEAD_BYTES = 64 * 2**20  # chunk temporaries and encoder buffers


@dataclass(frozen=True)
class TurntableOptions:
    """The turntable's options, checked as the value is made: a UsageError (one line)
    for a value the renderer or the file cannot use, before any work.

    ``frames`` per turn, 1 to MAX_FRAMES; ``size``: frame width and height in pixels;
    ``fps``: frames per second of a file, 0 < fps <= 100; ``displace``: bumpiness as in
    :func:`ganorama.export.mesh.sphere_mesh` (made a float); ``elevation``: camera height
    above the equator, degrees; ``fov``: camera field of view, degrees (the globe fills
    about 90% of it); ``supersample``: rays per pixel per axis (anti-aliasing).
    ``suffix``: the output's, ".gif" or ".mp4" in lower case, when the frames go to a
    file (then what that format needs is checked too: :func:`ganorama.export.animation.check_format`)."""

    frames: int = 36
    size: int = 256
    fps: float = 12.0
    displace: float = 0.0
    elevation: float = 15.0
    fov: float = 30.0
    supersample: int = 2
    suffix: str | None = None

    def __post_init__(self) -> None:
        check_fps(self.fps)
        if self.suffix is not None:
            check_format(self.suffix, self.size)
        if not 1 <= self.frames <= MAX_FRAMES:
            raise UsageError(
                f"frames {self.frames} is out of range; allowed: 1 to {MAX_FRAMES} (one turn in 0.1 degree steps)"
            )
        if self.size < 1 or self.supersample < 1:
            raise UsageError(f"size and supersample must be >= 1, got {self.size}, {self.supersample}")
        if not -90 < self.elevation < 90:
            raise UsageError(f"elevation {self.elevation} is out of range; allowed: -90 < elevation < 90 degrees")
        if not 1 <= self.fov < 170:
            raise UsageError(f"fov {self.fov} is out of range; allowed: 1 to 170 degrees")
        object.__setattr__(self, "displace", check_displace(self.displace))


def turntable_memory_bytes(size: int, supersample: int, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of rendering a turntable of ``size`` from a W x H
    panorama; the frame count does not matter, frames are streamed."""
    render_pixels = (size * supersample) ** 2
    cache = min(SAMPLE_CACHE_BYTES, CACHE_BYTES_PER_SAMPLE * MARCH_STEPS * render_pixels)
    return (RENDER_BYTES_PER_PIXEL * render_pixels + PANORAMA_BYTES_PER_PIXEL * height * width + cache
            + FIXED_OVERHEAD_BYTES)  # fmt: skip


def check_turntable_memory(size: int, supersample: int, height: int, width: int) -> None:
    from ganorama.resources import check_memory

    what = f"a turntable of size {size} (rendered at {size * supersample}) from a {width}x{height} panorama"
    check_memory(turntable_memory_bytes(size, supersample, height, width), what)


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

    Options as in :class:`TurntableOptions`. ``device``: torch device or None (CUDA if
    available). ``progress``: a progress bar on stderr, shown only when stderr is a terminal."""
    options = TurntableOptions(frames=frames, size=size, displace=displace, elevation=elevation, fov=fov,
                               supersample=supersample)  # fmt: skip
    device = resolve_device(device)
    albedo = as_panorama(equirect).to(device=device, dtype=torch.float32)[:3]
    check_turntable_memory(options.size, options.supersample, *albedo.shape[-2:])
    return _frames(albedo, options, progress)


def _frames(albedo: torch.Tensor, options: TurntableOptions, progress: bool) -> Iterator[torch.Tensor]:
    """The frames of a checked albedo (3, H, W) on its device, with checked options."""
    from tqdm import tqdm

    with render_threads(albedo.device):
        scene = GlobeRenderer(albedo, options.size, options.displace, options.elevation, options.fov,
                              options.supersample)  # fmt: skip
    show = progress and sys.stderr is not None and sys.stderr.isatty()
    for index in tqdm(range(options.frames), desc="turntable", unit="frame", disable=not show, file=sys.stderr):
        # Only the rendering itself: the consumer (an encoder) runs with the caller's setting.
        with render_threads(albedo.device):
            frame = scene.frame(2 * math.pi * index / options.frames)
        yield frame


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
    from frame to frame (mean error on benchmarks/turntable.py's panorama, before frames
    were dithered into it: 6.2 levels of 255 against 5.2 for per-frame palettes; dithering
    adds a little per pixel and takes away the bands on smooth gradients)."""
    return _palette(as_panorama(equirect).float()[:3])


def _palette(albedo: torch.Tensor):
    """:func:`turntable_palette` of a checked float albedo (3, H, W)."""
    from PIL import Image

    height, width = albedo.shape[-2:]
    small = F.interpolate(albedo[None].cpu(), size=(min(height, 128), min(width, 256)), mode="area")[0]
    shades = torch.linspace(1.0, AMBIENT, 6)
    tiles = [(small * shade).clamp(0, 1) for shade in shades] + [torch.full_like(small[:, :4], BACKGROUND)]
    return tensor_to_image(torch.cat(tiles, dim=1)).convert("P", palette=Image.Palette.ADAPTIVE)


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

    Checked once each, before anything is read or rendered: the output (suffix, not
    existing, writable), every option with what the format needs (.mp4 support, an even
    size; a GIF's size limit), the device, then, from the panorama's size alone, that
    the memory and the disk space needed are there. Options as in
    :class:`TurntableOptions`; ``device`` and ``progress`` as in :func:`iter_turntable`."""
    from ganorama.export.paths import check_output_file
    from ganorama.resources import check_disk

    path = check_output_file(path, SUFFIXES, "turntable output")
    options = TurntableOptions(frames=frames, size=size, fps=fps, displace=displace, elevation=elevation, fov=fov,
                               supersample=supersample, suffix=path.suffix.lower())  # fmt: skip
    device = resolve_device(device)
    height, width = panorama_size(equirect)
    check_turntable_memory(options.size, options.supersample, height, width)
    check_disk(turntable_file_bytes(options.frames, options.size, path.suffix), path,
               f"a {options.frames}-frame turntable of size {options.size}")  # fmt: skip
    # All of it on one CPU thread: besides rendering, decoding the panorama, the palette
    # and each frame's conversion to 8 bits are small ops that only stall on more.
    with render_threads(device):
        panorama = as_panorama(equirect)
        palette = _palette(panorama.float()[:3]) if options.suffix == ".gif" else None
        albedo = panorama.to(device=device, dtype=torch.float32)[:3]
        return encode(_frames(albedo, options, progress), path, options.fps, palette, format_checked=True)
