"""A textured (optionally bumpy) sphere from a panorama, written as binary glTF (.glb).

The sphere is a *globe*: seen from outside with north up, the texture reads as the
image does (lon increases to the right), i.e. the mirror image of the view from
inside. In glTF's frame (+Y up, right-handed) the panorama's forward direction (the
centre column) faces +Z, the glTF "front", towards a default viewer; east (lon +90)
lies at +X. Relative to our world frame (:mod:`ganorama.geometry`: x right, y down,
z forward) a panorama direction d sits at (d_x, -d_y, d_z) on the globe.

Displacement follows the seed: radius = 1 + displace * (luminance - 0.5), luminance of
the panorama in that direction, so bright areas bulge and dark ones sink.
"""
from __future__ import annotations

import io
import json
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.checks import check_displace
from ganorama.errors import UsageError
from ganorama.export.io import as_panorama, luminance, panorama_size, sample_equirect, tensor_to_image
from ganorama.files import write_with

# Our world frame -> globe (glTF) frame: flip y so that up is +Y. This is a reflection,
# deliberately: it turns the inside view of the panorama into the outside view of a globe.
WORLD_TO_GLOBE = (1.0, -1.0, 1.0)


class SphereMesh(NamedTuple):
    """A triangle mesh in the globe (glTF) frame.

    vertices (V, 3) float32; normals (V, 3) float32 unit; uvs (V, 2) float32 with
    (0, 0) at the image's top-left (glTF convention); faces (F, 3) int64, counter-
    clockwise seen from outside."""

    vertices: torch.Tensor
    normals: torch.Tensor
    uvs: torch.Tensor
    faces: torch.Tensor


def displacement_radius(equirect: torch.Tensor, directions: torch.Tensor, displace: float) -> torch.Tensor:
    """Radius of the bumpy sphere in world ``directions`` (..., 3): 1 + displace *
    (luminance - 0.5), luminance of equirect (C, H, W) sampled bilinearly -> (...).
    A one-channel equirect is taken to be the luminance already."""
    if displace == 0:
        return torch.ones(directions.shape[:-1], device=directions.device, dtype=directions.dtype)
    # Luminance is linear in the colour, so sampling the luminance map equals the
    # luminance of the sampled colour, at a third of the cost.
    return 1 + displace * (sample_equirect(luminance(equirect)[None], directions)[0] - 0.5)


def sphere_mesh(equirect: torch.Tensor, rings: int = 128, segments: int = 256, displace: float = 0.0) -> SphereMesh:
    """UV sphere textured by the panorama equirect (C, H, W) in [0, 1].

    ``rings`` latitude bands (rows of vertices: rings + 1, pole to pole) and ``segments``
    longitude bands. The seam column is duplicated (u = 0 and u = 1) so the texture
    does not smear across it; each pole is one row of segments + 1 vertices at the same
    point with their own u. Vertices: (rings + 1) * (segments + 1); triangles:
    2 * segments * (rings - 1)."""
    displace = _check_sphere(rings, segments, displace)
    return _sphere_mesh(as_panorama(equirect).float(), rings, segments, displace)


def _check_sphere(rings: int, segments: int, displace: float) -> float:
    """UsageError for a sphere that cannot be built; returns ``displace`` as a float."""
    if rings < 2 or segments < 3:
        raise UsageError(f"sphere needs rings >= 2 and segments >= 3, got rings={rings}, segments={segments}")
    return check_displace(displace)


def _sphere_mesh(equirect: torch.Tensor, rings: int, segments: int, displace: float) -> SphereMesh:
    """:func:`sphere_mesh` of a float panorama with arguments already checked."""
    device = equirect.device
    # Vertex (i, j): row i from the north pole, column j from lon = -pi (u = 0).
    v = torch.arange(rings + 1, device=device, dtype=torch.float64) / rings
    u = torch.arange(segments + 1, device=device, dtype=torch.float64) / segments
    lat = (math.pi / 2 - math.pi * v)[:, None].expand(-1, segments + 1)
    lon = (2 * math.pi * u - math.pi)[None, :].expand(rings + 1, -1)
    directions = geometry.lonlat_to_direction(lon, lat)  # (R+1, S+1, 3), world frame
    # Exact poles and seam, so duplicated vertices coincide bit for bit.
    directions[0] = torch.tensor((0.0, -1.0, 0.0), dtype=directions.dtype)
    directions[-1] = torch.tensor((0.0, 1.0, 0.0), dtype=directions.dtype)
    directions[:, -1] = directions[:, 0]

    radius = displacement_radius(equirect, directions.float(), displace).double()
    # Each pole row is one point: give it one radius (the mean round the top / bottom row),
    # otherwise the pole splits into a spiky crown with gaps between its triangles.
    radius[0] = radius[0, :-1].mean()
    radius[-1] = radius[-1, :-1].mean()
    radius[:, -1] = radius[:, 0]
    flip = torch.tensor(WORLD_TO_GLOBE, device=device, dtype=directions.dtype)
    positions = radius[..., None] * directions * flip  # (R+1, S+1, 3) globe frame

    normals = _grid_normals(positions, directions * flip)
    uvs = torch.stack((u[None, :].expand(rings + 1, -1), v[:, None].expand(-1, segments + 1)), dim=-1)

    columns = segments + 1
    i = torch.arange(rings, device=device)[:, None]
    j = torch.arange(segments, device=device)[None, :]
    top_left = (i * columns + j).reshape(-1)
    top_right, bottom_left = top_left + 1, top_left + columns
    bottom_right = bottom_left + 1
    row = i.expand(-1, segments).reshape(-1)
    # Counter-clockwise from outside: in the globe, +u is east = to the viewer's right
    # and +v is south = down, so top-left -> bottom-left -> top-right turns left.
    upper = torch.stack((top_left, bottom_left, top_right), dim=-1)[row > 0]  # degenerate at the north pole
    lower = torch.stack((top_right, bottom_left, bottom_right), dim=-1)[row < rings - 1]  # and at the south
    faces = torch.cat((upper, lower))
    return SphereMesh(
        positions.reshape(-1, 3).float(), normals.reshape(-1, 3).float(), uvs.reshape(-1, 2).float(), faces.long()
    )


def _grid_normals(positions: torch.Tensor, outward: torch.Tensor) -> torch.Tensor:
    """Smooth normals of a (R+1, S+1, 3) lat-lon vertex grid (last column = first) by
    central differences that wrap in longitude, so the seam's two copies agree."""
    grid = positions[:, :-1]  # (R+1, S, 3) without the duplicate seam column
    east = torch.roll(grid, -1, dims=1) - torch.roll(grid, 1, dims=1)
    south = torch.cat((grid[1:2] - grid[0:1], grid[2:] - grid[:-2], grid[-1:] - grid[-2:-1]))
    normals = torch.linalg.cross(east, south)
    # Orient outwards; fall back to the radial direction where the differences vanish
    # (the pole rows, where all "east" neighbours are the same point).
    normals = torch.where((normals * outward[:, :-1]).sum(-1, keepdim=True) < 0, -normals, normals)
    degenerate = normals.norm(dim=-1, keepdim=True) < 1e-12
    normals = torch.where(degenerate, outward[:, :-1], normals)
    normals[0] = outward[0, :-1]
    normals[-1] = outward[-1, :-1]
    normals = F.normalize(normals, dim=-1)
    return torch.cat((normals, normals[:, :1]), dim=1)


# --- binary glTF ----------------------------------------------------------------------

_GLB_MAGIC = 0x46546C67  # "glTF"
_CHUNK_JSON = 0x4E4F534A  # "JSON"
_CHUNK_BIN = 0x004E4942  # "BIN\0"
_FLOAT, _UNSIGNED_INT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR, _REPEAT, _CLAMP_TO_EDGE = 9729, 9987, 10497, 33071


def glb_bytes(mesh: SphereMesh, texture_png: bytes, name: str = "ganorama sphere") -> bytes:
    """A complete binary glTF 2.0 file: one mesh, one material with ``texture_png``
    (PNG file bytes) as base colour, everything in the GLB's BIN chunk."""
    vertices = mesh.vertices.detach().cpu().numpy().astype("<f4")
    normals = mesh.normals.detach().cpu().numpy().astype("<f4")
    uvs = mesh.uvs.detach().cpu().numpy().astype("<f4")
    indices = mesh.faces.detach().cpu().numpy().astype("<u4").reshape(-1)
    if indices.size and int(indices.max()) >= len(vertices):
        raise ValueError("mesh faces index past the last vertex")

    blobs = [vertices.tobytes(), normals.tobytes(), uvs.tobytes(), indices.tobytes(), texture_png]
    targets = [_ARRAY_BUFFER, _ARRAY_BUFFER, _ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER, None]
    binary = bytearray()
    views = []
    for blob, target in zip(blobs, targets):
        binary += b"\0" * (-len(binary) % 4)  # accessor data must be 4-byte aligned
        view = {"buffer": 0, "byteOffset": len(binary), "byteLength": len(blob)}
        if target is not None:
            view["target"] = target
        views.append(view)
        binary += blob
    binary += b"\0" * (-len(binary) % 4)

    document = {
        "asset": {"version": "2.0", "generator": "ganorama"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{
            "name": name,
            "primitives": [{
                "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                "indices": 3, "material": 0, "mode": 4,
            }],
        }],
        "materials": [{
            "name": "panorama",
            "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 1.0},
        }],
        # Repeat in u (the seam joins), clamp in v (the poles must not bleed into each other).
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR,
                      "wrapS": _REPEAT, "wrapT": _CLAMP_TO_EDGE}],
        "textures": [{"sampler": 0, "source": 0}],
        "images": [{"bufferView": 4, "mimeType": "image/png"}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": views,
        "accessors": [
            {"bufferView": 0, "componentType": _FLOAT, "count": len(vertices), "type": "VEC3",
             "min": vertices.min(axis=0).tolist() if len(vertices) else [0, 0, 0],
             "max": vertices.max(axis=0).tolist() if len(vertices) else [0, 0, 0]},
            {"bufferView": 1, "componentType": _FLOAT, "count": len(normals), "type": "VEC3"},
            {"bufferView": 2, "componentType": _FLOAT, "count": len(uvs), "type": "VEC2"},
            {"bufferView": 3, "componentType": _UNSIGNED_INT, "count": int(indices.size), "type": "SCALAR"},
        ],
    }  # fmt: skip
    json_chunk = json.dumps(document, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)  # the spec pads JSON with spaces
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return b"".join((
        struct.pack("<III", _GLB_MAGIC, 2, total),
        struct.pack("<II", len(json_chunk), _CHUNK_JSON), json_chunk,
        struct.pack("<II", len(binary), _CHUNK_BIN), bytes(binary),
    ))  # fmt: skip


def write_glb(path: str | os.PathLike, mesh: SphereMesh, texture) -> Path:
    """Write ``mesh`` with ``texture`` (PIL image, or (3, H, W) tensor in [0, 1]) embedded
    as PNG to a .glb file, atomically; an existing ``path`` is refused (UsageError)."""
    image = tensor_to_image(texture) if isinstance(texture, torch.Tensor) else texture
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    data = glb_bytes(mesh, buffer.getvalue())
    return write_with(path, lambda temp: temp.write_bytes(data))


# Peak memory of save_sphere_glb per vertex: float64 directions, radii, positions and
# the normals' central differences, float32 copies, indices, and the GLB assembled in
# memory (three copies). Measured (peak RSS growth, 2000 x 1000 panorama): 131 MiB at
# 512 x 1024 and 835 MiB at 1024 x 2048 rings x segments, at most about 420 bytes per
# vertex; this estimate says 347 and 1248 MiB.
SAVE_BYTES_PER_VERTEX = 600
# Per panorama pixel: the float32 panorama, its 8-bit image and the PNG texture.
SAVE_BYTES_PER_PANORAMA_PIXEL = 24
GLB_MAX_BYTES = 2**32 - 1  # a GLB stores its total length in 32 bits


def glb_file_bytes(rings: int, segments: int, height: int, width: int) -> int:
    """Upper estimate (bytes) of the .glb of :func:`save_sphere_glb`: vertices (position,
    normal, uv: 32 bytes), triangles (three 32-bit indices), the PNG texture (at most
    about its raw size) and the JSON."""
    vertices = (rings + 1) * (segments + 1)
    triangles = 2 * segments * max(rings - 1, 0)
    return 32 * vertices + 12 * triangles + 3 * height * width + 4096


def mesh_memory_bytes(rings: int, segments: int, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of :func:`save_sphere_glb` for a W x H panorama."""
    return SAVE_BYTES_PER_VERTEX * (rings + 1) * (segments + 1) + SAVE_BYTES_PER_PANORAMA_PIXEL * height * width


def save_sphere_glb(
    equirect, path: str | os.PathLike, rings: int = 128, segments: int = 256, displace: float = 0.0
) -> Path:
    """Panorama (path, PIL image or (3, H, W) tensor) -> textured sphere .glb at ``path``.

    Checked before the panorama is read: the output (suffix, not existing, writable),
    the options, then, from the panorama's size alone, the GLB format's 4 GiB limit and
    the memory and disk space needed (UsageError, one line)."""
    from ganorama.export.paths import check_output_file
    from ganorama.resources import check_disk, check_memory, format_bytes

    path = check_output_file(path, (".glb",), "mesh output")
    displace = _check_sphere(rings, segments, displace)
    height, width = panorama_size(equirect)
    what = f"a sphere of {rings} rings x {segments} segments"
    size = glb_file_bytes(rings, segments, height, width)
    if size > GLB_MAX_BYTES:
        raise UsageError(
            f"{what} makes a .glb of about {format_bytes(size)}; the format allows at most 4 GiB "
            f"(fewer --rings/--segments)"
        )
    check_memory(mesh_memory_bytes(rings, segments, height, width), what)
    check_disk(size, path, what)
    panorama = as_panorama(equirect)
    mesh = _sphere_mesh(panorama.float(), rings, segments, displace)
    return write_glb(path, mesh, panorama)
