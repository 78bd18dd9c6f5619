"""Sphere mesh and binary glTF: structure, texture orientation, displacement, trimesh reload."""
from __future__ import annotations

import json
import struct

import pytest
import torch
from PIL import Image

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.export.mesh import glb_bytes, save_sphere_glb, sphere_mesh, write_glb

H, W = 32, 64


def direction_panorama(height: int = H, width: int = W) -> torch.Tensor:
    """(3, H, W) whose colour encodes the pixel's world direction: (d + 1) / 2."""
    return (geometry.equirect_directions(height, width).permute(2, 0, 1) + 1) / 2


def test_counts_and_shapes():
    mesh = sphere_mesh(direction_panorama(), rings=6, segments=12)
    assert mesh.vertices.shape == (7 * 13, 3)
    assert mesh.normals.shape == (7 * 13, 3)
    assert mesh.uvs.shape == (7 * 13, 2)
    assert mesh.faces.shape == (2 * 12 * (6 - 1), 3)
    assert mesh.faces.min() >= 0 and mesh.faces.max() < 7 * 13
    assert torch.allclose(mesh.vertices.norm(dim=-1), torch.ones(7 * 13), atol=1e-6)


def test_triangles_face_outwards_and_none_is_degenerate():
    mesh = sphere_mesh(torch.rand(3, H, W), rings=8, segments=16, displace=0.3)
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    normals = torch.linalg.cross(b - a, c - a)
    assert (normals.norm(dim=-1) > 1e-8).all()
    assert ((normals * (a + b + c)).sum(-1) > 0).all()  # counter-clockwise seen from outside
    assert ((mesh.normals * mesh.vertices).sum(-1) > 0).all()


def test_texture_lands_on_the_direction_it_came_from():
    """Sample the texture at each vertex's uv (glTF: origin top-left) and decode the
    direction: the vertex must sit at that direction with y flipped (the globe frame)."""
    panorama = direction_panorama(64, 128)
    mesh = sphere_mesh(panorama, rings=8, segments=16)
    grid = torch.stack((mesh.uvs[:, 0] * 2 - 1, mesh.uvs[:, 1] * 2 - 1), dim=-1)
    colour = torch.nn.functional.grid_sample(panorama[None], grid[None, None], align_corners=False)[0, :, 0]
    decoded = torch.nn.functional.normalize(colour.T * 2 - 1, dim=-1)
    expected = mesh.vertices * torch.tensor([1.0, -1.0, 1.0])
    # Leave out the poles' rows and the seam (u = 0 or 1), where this plain sampler
    # clamps instead of wrapping as the glTF sampler (REPEAT in u) does.
    inside = (mesh.uvs[:, 1].sub(0.5).abs() < 0.4) & (mesh.uvs[:, 0] > 0) & (mesh.uvs[:, 0] < 1)
    assert inside.sum() > 50
    assert (decoded - expected)[inside].norm(dim=-1).max() < 0.05


def test_seen_from_outside_the_texture_is_not_mirrored():
    """A glTF viewer at +Z looking at the origin (+Y up, +X right) sees the panorama's
    centre (u = 0.5) in front, image-right (larger u) to its right, the top row up."""
    mesh = sphere_mesh(direction_panorama(), rings=8, segments=16)
    front = mesh.vertices[:, 2].argmax()
    assert mesh.uvs[front].tolist() == pytest.approx([0.5, 0.5])
    equator = (mesh.uvs[:, 1] - 0.5).abs() < 1e-6
    near_side = equator & (mesh.vertices[:, 2] > 0.1)
    u, x = mesh.uvs[near_side, 0], mesh.vertices[near_side, 0]
    assert torch.equal(torch.sign(x), torch.sign(u - 0.5))
    top = mesh.vertices[:, 1].argmax()
    assert mesh.uvs[top, 1] == 0


def test_seam_and_poles_are_closed():
    rings, segments = 6, 12
    mesh = sphere_mesh(torch.rand(3, H, W), rings=rings, segments=segments, displace=0.4)
    grid = mesh.vertices.view(rings + 1, segments + 1, 3)
    normals = mesh.normals.view(rings + 1, segments + 1, 3)
    uvs = mesh.uvs.view(rings + 1, segments + 1, 2)
    assert torch.equal(grid[:, 0], grid[:, -1]) and torch.equal(normals[:, 0], normals[:, -1])
    assert torch.all(uvs[:, 0, 0] == 0) and torch.all(uvs[:, -1, 0] == 1)
    assert torch.equal(grid[0], grid[0, :1].expand(segments + 1, 3))
    assert torch.equal(grid[-1], grid[-1, :1].expand(segments + 1, 3))


def test_displacement_follows_luminance():
    panorama = torch.zeros(3, H, W)
    panorama[:, :, W // 2 :] = 1.0  # eastern half white
    mesh = sphere_mesh(panorama, rings=16, segments=32, displace=0.2)
    radius = mesh.vertices.norm(dim=-1)
    east = (mesh.uvs[:, 0] > 0.6) & (mesh.uvs[:, 0] < 0.9) & ((mesh.uvs[:, 1] - 0.5).abs() < 0.3)
    west = (mesh.uvs[:, 0] > 0.1) & (mesh.uvs[:, 0] < 0.4) & ((mesh.uvs[:, 1] - 0.5).abs() < 0.3)
    assert torch.allclose(radius[east], torch.full_like(radius[east], 1.1), atol=1e-5)
    assert torch.allclose(radius[west], torch.full_like(radius[west], 0.9), atol=1e-5)
    with pytest.raises(UsageError, match="displace"):
        sphere_mesh(panorama, displace=2.5)
    with pytest.raises(UsageError, match="rings"):
        sphere_mesh(panorama, rings=1)


def test_a_glb_write_checks_displace_once(tmp_path, monkeypatch):
    from ganorama.export import mesh

    calls = []
    original = mesh.check_displace
    monkeypatch.setattr(mesh, "check_displace", lambda displace: calls.append(displace) or original(displace))
    save_sphere_glb(torch.rand(3, H, W), tmp_path / "s.glb", rings=4, segments=8, displace=0.1)
    assert calls == [0.1]


def _parse_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    bin_length, bin_type = struct.unpack_from("<II", data, 20 + json_length)
    assert bin_type == 0x004E4942 and bin_length % 4 == 0
    binary = data[28 + json_length : 28 + json_length + bin_length]
    assert 28 + json_length + bin_length == len(data)
    return document, binary


def test_glb_structure():
    mesh = sphere_mesh(direction_panorama(), rings=4, segments=8)
    document, binary = _parse_glb(glb_bytes(mesh, b"\x89PNG fake"))
    assert document["asset"]["version"] == "2.0"
    assert document["buffers"][0]["byteLength"] == len(binary)
    for view in document["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= len(binary)
    accessors = document["accessors"]
    assert [a["count"] for a in accessors] == [45, 45, 45, 3 * len(mesh.faces)]
    image_view = document["bufferViews"][document["images"][0]["bufferView"]]
    assert binary[image_view["byteOffset"] : image_view["byteOffset"] + image_view["byteLength"]] == b"\x89PNG fake"
    assert accessors[0]["min"] == pytest.approx([-1, -1, -1], abs=1e-6)


def test_trimesh_reloads_the_glb_with_its_texture(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    panorama = direction_panorama()
    path = write_glb(tmp_path / "sphere.glb", sphere_mesh(panorama, rings=8, segments=16, displace=0.1), panorama)
    scene = trimesh.load(path)
    geometries = list(scene.geometry.values()) if hasattr(scene, "geometry") else [scene]
    assert len(geometries) == 1
    loaded = geometries[0]
    assert len(loaded.vertices) == 9 * 17
    assert len(loaded.faces) == 2 * 16 * 7
    texture = loaded.visual.material.baseColorTexture
    assert isinstance(texture, Image.Image) and texture.size == (W, H)
    assert loaded.visual.uv.shape == (9 * 17, 2)


def test_save_sphere_glb_refuses_existing_and_wrong_suffix(tmp_path):
    image = Image.new("RGB", (W, H), (10, 20, 30))
    path = save_sphere_glb(image, tmp_path / "s.glb", rings=4, segments=8)
    data = path.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        save_sphere_glb(image, path, rings=4, segments=8)
    assert path.read_bytes() == data
    with pytest.raises(UsageError, match=r"\.glb"):
        save_sphere_glb(image, tmp_path / "s.gltf")
    with pytest.raises(UsageError, match="2:1"):
        save_sphere_glb(Image.new("RGB", (W, W)), tmp_path / "square.glb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.glb"]


def test_save_sphere_glb_refuses_what_cannot_fit_before_reading(tmp_path, monkeypatch):
    from ganorama import resources

    source = tmp_path / "pano.png"
    Image.new("RGB", (W, H)).save(source)
    # 1e10 vertices: far past the GLB format's 4 GiB, whatever the machine.
    with pytest.raises(UsageError, match=r"100000 rings x 100000 segments makes a \.glb of about .*at most 4 GiB"):
        save_sphere_glb(source, tmp_path / "huge.glb", rings=100_000, segments=100_000)
    # Within the format, but not within the memory there is.
    monkeypatch.setattr(resources, "memory_available", lambda: 2**20)
    with pytest.raises(UsageError, match=r"1000 rings x 2000 segments needs about .* of memory; 1\.0 MiB is available"):
        save_sphere_glb(source, tmp_path / "big.glb", rings=1000, segments=2000)
    monkeypatch.undo()
    monkeypatch.setattr(resources, "disk_free", lambda path: 10)
    with pytest.raises(UsageError, match=r"needs about .* of disk space; 10 B is free"):
        save_sphere_glb(source, tmp_path / "small.glb", rings=4, segments=8)
    with pytest.raises(UsageError, match="rings >= 2"):
        save_sphere_glb(tmp_path / "missing.png", tmp_path / "s.glb", rings=1)  # checked before reading
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png"]


def test_glb_size_estimate_is_an_upper_bound(tmp_path):
    from ganorama.export.mesh import glb_file_bytes

    panorama = torch.rand(3, H, W)  # noise: the PNG texture barely compresses
    path = save_sphere_glb(panorama, tmp_path / "s.glb", rings=16, segments=32, displace=0.1)
    assert path.stat().st_size <= glb_file_bytes(16, 32, H, W) < 2 * path.stat().st_size
