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

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.export.io import PanoramaSource, as_panorama, sample_equirect, tensor_to_image
from ganorama.outputs import write_with

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
# World frame (x right, y down, z forward) -> OpenGL cube frame: flip y. Its own inverse.
_WORLD_TO_GL = (1.0, -1.0, 1.0)

# Horizontal cross, 4 faces wide and 3 high: (face, row, column) in units of faces.
CROSS_LAYOUT = (("py", 0, 1), ("nx", 1, 0), ("pz", 1, 1), ("px", 1, 2), ("nz", 1, 3), ("ny", 2, 1))


def face_axes(device=None, dtype=torch.float32) -> torch.Tensor:
    """(6, 3, 3) [face, (centre, s axis, t axis), xyz] in our world frame."""
    axes = torch.tensor(_GL_FACE_AXES, device=device, dtype=dtype)
    return axes * torch.tensor(_WORLD_TO_GL, device=device, dtype=dtype)


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


def save_cubemap(
    equirect: PanoramaSource,
    outdir: str | os.PathLike,
    face_size: int | None = None,
    format: str = "png",
) -> dict[str, Path]:
    """Write ``outdir/{px,nx,py,ny,pz,nz}.EXT`` and ``outdir/cross.EXT`` from a panorama
    (path, PIL image or (3, H, W) tensor in [0, 1]). ``format``: 'png' or 'jpg'.

    Nothing is written if any of the seven files exists already (UsageError); each file
    is written atomically. Returns {face name or 'cross': path}."""
    from ganorama.export.metadata import resolve_format

    fmt = resolve_format("", format)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir} exists and is not a directory")
    names = FACES + ("cross",)
    targets = {name: outdir / f"{name}.{fmt}" for name in names}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing:
        raise UsageError(f"{existing[0]} already exists; choose another output directory")
    faces = equirect_to_cubemap(as_panorama(equirect), face_size)
    images = {name: faces[name] for name in FACES}
    images["cross"] = horizontal_cross(faces)
    pil_format = "PNG" if fmt == "png" else "JPEG"
    options = {} if fmt == "png" else {"quality": 95}
    for name in names:
        image = tensor_to_image(images[name])
        write_with(targets[name], lambda temp, image=image: image.save(temp, pil_format, **options))
    return targets
