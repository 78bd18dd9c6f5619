"""Equirect panorama <-> six cube-map faces, in the OpenGL / three.js convention.

Face orientation is the one OpenGL defines for ``GL_TEXTURE_CUBE_MAP_*`` (and three.js's
``CubeTextureLoader`` loads, in the order px, nx, py, ny, pz, nz, first image row = t 0):
for a lookup direction r in the cube map's frame, the face is the axis of largest
|r| and the face coordinates are

    face   s (column, left to right)   t (row, top to bottom)
    +X     -rz / |rx|                  -ry / |rx|
    -X     +rz / |rx|                  -ry / |rx|
    +Y     +rx / |ry|                  +rz / |ry|
    -Y     +rx / |ry|                  -rz / |ry|
    +Z     +rx / |rz|                  -ry / |rz|
    -Z     -rx / |rz|                  -ry / |rz|

(mapped from [-1, 1] to [0, 1]). That frame is "left-handed": standing inside the cube
with +Y up and looking at +Z, +X is on the right. Our world frame (x right, y down,
z forward, :mod:`ganorama.geometry`) is mapped to it by flipping y only:
r = (x, -y, z). Hence

- pz = forward (the equirect centre column), px = right (east, lon +90),
  nz = back (lon 180, the image's left/right edge), nx = left (lon -90),
  py = up (the equirect top row), ny = down (the bottom row);
- the four side faces are upright, seen from inside as by a camera looking at them;
  py has the back (nz) edge on top and the forward (pz) edge at the bottom; ny has the
  forward edge on top.

All tensors are (C, H, W) images; faces are (C, S, S).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.engines import GL_FRAME
from ganorama.errors import UsageError
from ganorama.export.io import PanoramaSource, as_panorama, panorama_size, sample_equirect, save_image, tensor_to_image

FACES = ("px", "nx", "py", "ny", "pz", "nz")

# Per face, in the OpenGL cube-map frame: the centre direction (major axis), and the
# directions in which s (columns) and t (rows) grow -- the table in the module docstring.
_GL_FACE_AXES = (
    # centre        s axis         t axis
    ((1, 0, 0), (0, 0, -1), (0, -1, 0)),  # px
    ((-1, 0, 0), (0, 0, 1), (0, -1, 0)),  # nx
    ((0, 1, 0), (1, 0, 0), (0, 0, 1)),  # py
    ((0, -1, 0), (1, 0, 0), (0, 0, -1)),  # ny
    ((0, 0, 1), (1, 0, 0), (0, -1, 0)),  # pz
    ((0, 0, -1), (-1, 0, 0), (0, -1, 0)),  # nz
)

# Horizontal cross, 4 faces wide and 3 high: (face, row, column) in units of faces.
CROSS_LAYOUT = (("py", 0, 1), ("nx", 1, 0), ("pz", 1, 1), ("px", 1, 2), ("nz", 1, 3), ("ny", 2, 1))


def face_axes(device=None, dtype=torch.float32, frame=GL_FRAME) -> torch.Tensor:
    """(6, 3, 3) [face, (centre, s axis, t axis), xyz] in our world frame, for a cube
    whose lookup frame maps to ours by ``frame`` (world = frame @ L, rows; the default,
    OpenGL's and three.js's, flips y: our world is x right, y down, z forward)."""
    axes = torch.tensor(_GL_FACE_AXES, device=device, dtype=dtype)
    return axes @ torch.tensor(frame, device=device, dtype=dtype).T


def face_directions(face_size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """World directions of the pixel centres of the six faces, in FACES order:
    (6, S, S, 3) unit vectors."""
    axes = face_axes(device=device, dtype=dtype)
    grid = geometry.pixel_grid(face_size, face_size, device=device, dtype=dtype)  # (S, S, 2): s, t in (-1, 1)
    directions = (
        axes[:, None, None, 0]
        + grid[None, ..., 0:1] * axes[:, None, None, 1]
        + grid[None, ..., 1:2] * axes[:, None, None, 2]
    )
    return F.normalize(directions, dim=-1)


def direction_to_face(direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 3) world directions -> face index (...) into FACES, and normalised face
    coordinates (..., 2) = (s, t) in [-1, 1] (``grid_sample`` convention)."""
    axes = face_axes(device=direction.device, dtype=direction.dtype)
    major = direction @ axes[:, 0].T  # (..., 6): the signed major-axis component per face
    face = major.argmax(dim=-1)
    chosen = axes[face]  # (..., 3, 3)
    depth = torch.gather(major, -1, face[..., None])[..., 0]
    s = (direction * chosen[..., 1, :]).sum(-1) / depth
    t = (direction * chosen[..., 2, :]).sum(-1) / depth
    return face, torch.stack((s, t), dim=-1)


def _check_faces(faces: dict[str, torch.Tensor]) -> torch.Tensor:
    """Validate a face dict -> stacked (6, C, S, S) in FACES order."""
    missing = [name for name in FACES if name not in faces]
    if missing:
        raise UsageError(f"cube map is missing face(s) {', '.join(missing)}; expected {', '.join(FACES)}")
    shapes = {tuple(faces[name].shape) for name in FACES}
    if len(shapes) != 1:
        raise UsageError(f"cube map faces differ in shape: {sorted(shapes)}")
    shape = shapes.pop()
    if len(shape) != 3 or shape[1] != shape[2]:
        raise UsageError(f"cube map faces must be square (C, S, S), got {shape}")
    return torch.stack([faces[name] for name in FACES])


def equirect_to_cubemap(equirect: torch.Tensor, face_size: int | None = None) -> dict[str, torch.Tensor]:
    """(C, H, W) equirect, W = 2 H -> {face name: (C, S, S)} for FACES; S defaults to W // 4
    (one face spans 90 degrees, a quarter of the panorama's width)."""
    equirect = as_panorama(equirect)
    width = equirect.shape[-1]
    size = max(1, width // 4) if face_size is None else int(face_size)
    if size < 1:
        raise UsageError(f"face size {face_size} is invalid; it must be >= 1")
    source = equirect if equirect.is_floating_point() else equirect.float()
    directions = face_directions(size, device=source.device, dtype=source.dtype)
    samples = sample_equirect(source, directions)  # (C, 6, S, S)
    return {name: samples[:, index].contiguous() for index, name in enumerate(FACES)}


def cubemap_to_equirect(faces: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """{face name: (C, S, S)} -> (C, height, width) equirect image, bilinear within each
    face (clamped at face borders)."""
    if height < 1 or width < 1:
        raise UsageError(f"equirect size {width}x{height} is invalid; width and height must be >= 1")
    stacked = _check_faces(faces)
    if not stacked.is_floating_point():
        stacked = stacked.float()
    directions = geometry.equirect_directions(height, width, device=stacked.device, dtype=stacked.dtype)
    face, coords = direction_to_face(directions)  # (H, W), (H, W, 2)
    # Sample every face at the chosen face's coordinates and keep the chosen one: six
    # times the sampling, but one batched call with no per-face masking bookkeeping.
    grid = coords[None].expand(len(FACES), -1, -1, -1)
    samples = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="border", align_corners=False)
    index = face[None, None].expand(stacked.shape[1], 1, -1, -1)  # (C, 1, H, W)
    return torch.gather(samples.transpose(0, 1), 1, index).squeeze(1)


def horizontal_cross(faces: dict[str, torch.Tensor]) -> torch.Tensor:
    """Six faces -> one (C, 3 S, 4 S) image: py above pz; nx, pz, px, nz left to right
    in the middle row; ny below pz; the six unused cells are zero (black)."""
    stacked = _check_faces(faces)
    _, channels, size, _ = stacked.shape
    cross = stacked.new_zeros(channels, 3 * size, 4 * size)
    for name, row, column in CROSS_LAYOUT:
        cross[:, row * size : (row + 1) * size, column * size : (column + 1) * size] = faces[name]
    return cross


# Peak memory of save_cubemap per face pixel (S x S): one face's directions, sampling
# grid and samples in float32 while it is made, the six finished faces and the cross as
# 8-bit images, and PNG encoding. Measured (peak RSS growth, 2000 x 1000 panorama): 341
# MiB at S = 2048 and 1628 MiB at 4096, about 100 bytes per face pixel; this estimate
# says 557 and 2069 MiB.
SAVE_BYTES_PER_FACE_PIXEL = 126
# Per panorama pixel: the float32 panorama and the seam-padded copy sampling makes.
SAVE_BYTES_PER_PANORAMA_PIXEL = 28
# Upper estimate of the files' bytes per pixel, by format: PNG and JPEG of photographic
# content stay under raw RGB size; 16-bit PNG at raw size, EXR float32 (ZIP rarely gains
# on noise), RGBE's four bytes plus run counts.
FILE_BYTES_PER_PIXEL = {"png": 3, "jpg": 3, "png16": 6, "exr": 12, "hdr": 5}
FILE_PIXELS_PER_FACE_PIXEL = 6 + 12  # six faces, and the cross of 4 x 3 faces


# Float formats keep the six faces and the cross as float32 RGB until written (12 bytes a
# pixel, 18 face areas), and encode from a float copy.
FLOAT_SAVE_BYTES_PER_FACE_PIXEL = 12 * FILE_PIXELS_PER_FACE_PIXEL + 24


def cubemap_memory_bytes(face_size: int, height: int, width: int, float_faces: bool = False) -> int:
    """Estimated peak memory (bytes) of :func:`save_cubemap` for a W x H panorama
    (``float_faces``: for a float format)."""
    per_face_pixel = SAVE_BYTES_PER_FACE_PIXEL + (FLOAT_SAVE_BYTES_PER_FACE_PIXEL if float_faces else 0)
    return per_face_pixel * face_size * face_size + SAVE_BYTES_PER_PANORAMA_PIXEL * height * width


def cubemap_file_bytes(face_size: int, format: str = "png") -> int:
    """Estimated upper size (bytes) of the seven files of :func:`save_cubemap`."""
    return FILE_BYTES_PER_PIXEL[format] * FILE_PIXELS_PER_FACE_PIXEL * face_size * face_size


def cube_face(equirect: torch.Tensor, index: int, size: int, frame=GL_FRAME) -> torch.Tensor:
    """Face ``index`` (into FACES: the OpenGL order +x, -x, +y, -y, +z, -z of the cube's
    own frame, see :func:`face_axes` for ``frame``) of equirect (C, H, W) float -> (C, S, S)."""
    axes = face_axes(device=equirect.device, dtype=equirect.dtype, frame=frame)[index]
    grid = geometry.pixel_grid(size, size, device=equirect.device, dtype=equirect.dtype)
    directions = F.normalize(axes[0] + grid[..., 0:1] * axes[1] + grid[..., 1:2] * axes[2], dim=-1)
    return sample_equirect(equirect, directions)


def save_cubemap(
    equirect: PanoramaSource,
    outdir: str | os.PathLike,
    face_size: int | None = None,
    format: str = "png",
) -> dict[str, Path]:
    """Write ``outdir/{px,nx,py,ny,pz,nz}.EXT`` and ``outdir/cross.EXT`` from a panorama
    (path, PIL image or (3, H, W) tensor in [0, 1]). ``format``: any of
    :data:`ganorama.formats.FORMATS`; the float ones (png16, exr, hdr) are written from
    float faces sampled from the float panorama, never through 8 bits.

    Checked before the panorama is read: the directory can be written and none of the
    seven files exists, then, from the panorama's size alone, that the memory and disk
    space needed are there (UsageError, one line). Each file is written atomically, and
    if writing fails part-way (disk full, interrupted) the files written so far and the
    directories created for them are removed: there is never a partial set. Returns
    {face name or 'cross': path}."""
    from ganorama.export.paths import check_output_directory
    from ganorama.formats import FLOAT_FORMATS, resolve_format, suffix_for
    from ganorama.resources import check_disk, check_memory

    fmt = resolve_format("", format)
    outdir = Path(outdir)
    names = FACES + ("cross",)
    targets = {name: outdir / f"{name}{suffix_for(fmt)}" for name in names}
    check_output_directory(outdir, [path.name for path in targets.values()], "cube map directory")
    if face_size is not None and int(face_size) < 1:
        raise UsageError(f"face size {face_size} is invalid; it must be >= 1")
    height, width = panorama_size(equirect)
    size = max(1, width // 4) if face_size is None else int(face_size)
    what = f"a cube map with {size}x{size} faces"
    check_memory(cubemap_memory_bytes(size, height, width, float_faces=fmt in FLOAT_FORMATS), what)
    check_disk(cubemap_file_bytes(size, fmt), outdir, what)

    source = as_panorama(equirect)
    source = source if source.is_floating_point() else source.float()
    if fmt in FLOAT_FORMATS:
        faces = {name: cube_face(source, index, size) for index, name in enumerate(FACES)}
        images = {**faces, "cross": horizontal_cross(faces)}
    else:
        # One face at a time, kept as 8-bit images: a sixth of the float32 memory of all six.
        images = {name: tensor_to_image(cube_face(source, index, size)) for index, name in enumerate(FACES)}
        images["cross"] = _cross_image(images, size)
    with all_or_nothing(outdir) as written:
        for name in names:
            save_image(images.pop(name), targets[name], fmt)
            written.append(targets[name])
    return targets


def _cross_image(faces: dict, size: int):
    """Six face images (PIL, S x S) -> the horizontal cross (PIL, 4 S x 3 S), as
    :func:`horizontal_cross` lays it out (unused cells black)."""
    from PIL import Image

    cross = Image.new("RGB", (4 * size, 3 * size))
    for name, row, column in CROSS_LAYOUT:
        cross.paste(faces[name], (column * size, row * size))
    return cross


@contextlib.contextmanager
def all_or_nothing(directory: Path) -> Iterator[list[Path]]:
    """Collect the paths written in the block; if it fails, remove them and the
    directories (``directory`` and the parents) that did not exist before it."""
    created = []
    folder = Path(os.path.abspath(directory))
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in created:  # innermost first; only if nothing else appeared there
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
