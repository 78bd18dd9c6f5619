"""Frames to a file: a looping GIF or an H.264 MP4, written one frame at a time.

- :func:`save_turntable` (frames, path, fps, palette) -> Path: checks its arguments, then
  :func:`encode` writes, each frame as it arrives, atomically.
- :func:`check_fps` and :func:`check_format`: what a file of each format needs, checked
  by :class:`ganorama.export.turntable.TurntableOptions` before any frame is rendered.
- :func:`turntable_file_bytes`: an upper estimate of the file, for the disk check.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterable, Iterator

import torch

from ganorama import checks
from ganorama.errors import GanoramaError, UsageError, install_hint
from ganorama.export.io import tensor_to_image
from ganorama.files import write_with

SUFFIXES = (".gif", ".mp4")
GIF_MAX_SIZE = 65535  # GIF stores widths and heights in 16 bits
# Upper estimates of the file: a GIF's LZW codes rarely exceed 1.5 bytes per pixel even
# on noise, plus a 768-byte palette per frame; H.264 at imageio-ffmpeg's default quality
# stays far below 0.5 bytes per pixel.
GIF_BYTES_PER_PIXEL = 1.5
MP4_BYTES_PER_PIXEL = 0.5


def turntable_file_bytes(frames: int, size: int, suffix: str) -> int:
    """Estimated upper size (bytes) of the animation file."""
    if suffix.lower() == ".gif":
        return int(frames * (GIF_BYTES_PER_PIXEL * size * size + 1024))
    return int(frames * MP4_BYTES_PER_PIXEL * size * size) + 4096


def check_fps(fps: float) -> None:
    checks.check_fps(fps)


def check_format(suffix: str, size: int) -> None:
    """UsageError unless ``suffix`` (".gif" or ".mp4", lower case) can hold frames of
    ``size`` x ``size``: a GIF at most GIF_MAX_SIZE, an MP4 even and imageio-ffmpeg there."""
    if suffix == ".gif" and size > GIF_MAX_SIZE:
        raise UsageError(f"size {size} is too large for a GIF; allowed: at most {GIF_MAX_SIZE}")
    if suffix == ".mp4":
        require_imageio_ffmpeg()
        _check_even(size, size)


def _check_even(width: int, height: int) -> None:
    if width % 2 or height % 2:
        raise UsageError(f"an .mp4 needs an even frame size (H.264 4:2:0), got {width}x{height}; choose an even --size")


def require_imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UsageError(f"writing .mp4 needs imageio-ffmpeg: {install_hint('video')}; or write a .gif") from None
    return imageio_ffmpeg


def save_turntable(frames: Iterable, path: str | os.PathLike, fps: float = 12.0, palette=None) -> Path:
    """Write frames (an iterable of (3, S, S) tensors in [0, 1] or PIL images, e.g. from
    :func:`ganorama.export.turntable.iter_turntable`) as an animation, each frame written
    as it arrives.

    ``.gif``: looping forever; every frame in ``palette``'s colours (a PIL "P" image, e.g.
    :func:`ganorama.export.turntable.turntable_palette`) or, if None, in its own adaptive
    palette. ``.mp4``: H.264 via imageio-ffmpeg (``pip install "ganorama[video]"``). Written
    atomically (nothing is left behind if writing fails or is interrupted); an existing
    ``path`` is refused."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"turntable output {str(path)!r} must end in .gif or .mp4")
    check_fps(fps)
    if path.exists():
        raise UsageError(f"{path} already exists; choose another output name")
    return encode(frames, path, fps, palette)


def encode(frames: Iterable, path: Path, fps: float, palette=None, format_checked: bool = False) -> Path:
    """:func:`save_turntable` without its checks of ``path`` and ``fps``; with
    ``format_checked`` (the caller ran :func:`check_format` for the frames' size) also
    without the MP4's checks."""
    images = (tensor_to_image(frame) if isinstance(frame, torch.Tensor) else frame.convert("RGB") for frame in frames)
    first = next(images, None)
    if first is None:
        raise UsageError("no frames to save")
    images = itertools.chain((first,), images)
    if path.suffix.lower() == ".gif":
        return write_with(path, lambda temp: _write_gif(temp, images, first.size, fps, palette))
    if format_checked:
        import imageio_ffmpeg  # found by check_format
    else:
        imageio_ffmpeg = require_imageio_ffmpeg()
        _check_even(*first.size)
    return write_with(path, lambda temp: _write_mp4(imageio_ffmpeg, temp, images, first.size, fps))


def _write_gif(temp: Path, images: Iterator, size: tuple[int, int], fps: float, palette=None) -> None:
    """A looping GIF, one frame at a time: Pillow's own multi-frame writer keeps every
    frame until the end (to merge duplicates), so the header and frames are assembled
    here with its documented per-frame helpers ``getheader`` and ``getdata``. With a
    shared ``palette`` it is the global colour table; otherwise each frame has its own.
    Frames are dithered (Floyd-Steinberg) into their palette, so smooth gradients do not
    band, and their delays follow :func:`gif_delays` so the average rate is ``fps``."""
    from PIL import GifImagePlugin, Image

    delays = gif_delays(fps)
    with open(temp, "wb") as file:
        for index, image in enumerate(images):
            if image.size != size:
                raise UsageError(f"frame {index} is {image.size[0]}x{image.size[1]}; frame 0 is {size[0]}x{size[1]}")
            # Pillow dithers only into a given palette: a frame's own is made first.
            colours = palette if palette is not None else image.quantize(256, method=Image.Quantize.MEDIANCUT)
            frame = image.quantize(palette=colours, dither=Image.Dither.FLOYDSTEINBERG)
            duration = 10 * next(delays)  # milliseconds; GIF stores centiseconds
            if index == 0:
                header, _ = GifImagePlugin.getheader(frame, None, {"loop": 0, "duration": duration})
                file.write(b"".join(header))
            for block in GifImagePlugin.getdata(frame, (0, 0), duration=duration, include_color_table=palette is None):
                file.write(block)
            file.flush()  # on disk as it comes, not in a buffer
        file.write(b";")  # trailer


def gif_delays(fps: float) -> Iterator[int]:
    """Frame delays in centiseconds (a GIF's unit) whose running sum stays within half a
    centisecond of the frames' exact times: 12 fps is 8, 9, 8, 8, 9, 8, ... (8.33 on
    average), not 8 throughout (12.5 fps). Never below 2: browsers slow 0 and 1 to 10."""
    exact = 100 / fps
    shown = 0
    for index in itertools.count(1):
        delay = max(2, round(index * exact) - shown)
        shown += delay
        yield delay


def encode_360_video(images: Iterable, path: str | os.PathLike, fps: float) -> Path:
    """An equirectangular 360 MP4 at ``path`` (a new file) from equirectangular frames
    (PIL images or (3, H, W) tensors in [0, 1], even sides), each written as it arrives:
    H.264 yuv420p at a constant quality a 360 player is happy with, then the spherical
    metadata (V2 and V1 boxes); atomically."""
    from ganorama.export.spherical import add_spherical_metadata

    path = Path(path)
    check_fps(fps)
    imageio_ffmpeg = require_imageio_ffmpeg()
    images = (tensor_to_image(frame) if isinstance(frame, torch.Tensor) else frame.convert("RGB") for frame in images)
    first = next(images, None)
    if first is None:
        raise UsageError("no frames to save")
    _check_even(*first.size)

    def write(temp: Path) -> None:
        _write_mp4(imageio_ffmpeg, temp, itertools.chain((first,), images), first.size, fps, VIDEO_360_PARAMS)
        add_spherical_metadata(temp)

    return write_with(path, write)


# Constant quality 18 (near transparent): a 360 player shows a small part of the frame
# enlarged, so the bit rate imageio's default quality gives looks blocky in a headset.
VIDEO_360_PARAMS = ("-crf", "18", "-preset", "medium")


def _write_mp4(imageio_ffmpeg, temp: Path, images: Iterator, size: tuple[int, int], fps: float,
               quality_params: tuple[str, ...] = ()) -> None:  # fmt: skip
    """H.264 through imageio-ffmpeg's writer, which takes frames one at a time. It does
    not report ffmpeg failing as it finishes the file (a full disk, say), so the file is
    read back: unless ffmpeg finds every frame in it, it is not kept. ``quality_params``:
    ffmpeg's rate options instead of imageio's default quality."""
    import numpy as np

    writer = imageio_ffmpeg.write_frames(
        str(temp), size, fps=fps, codec="libx264", pix_fmt_in="rgb24", macro_block_size=1,
        quality=None if quality_params else 5, output_params=[*quality_params, "-f", "mp4"],
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

