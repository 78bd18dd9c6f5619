"""Point clouds: binary PLY round trip, and the open3d viewer's errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganorama.errors import GanoramaError, UsageError
from ganorama.export.pointcloud import (
    panorama_points,
    require_open3d,
    view_point_cloud,
    views_points,
    write_ply,
)


def _read_ply(path) -> tuple[list[str], np.ndarray]:
    """A minimal independent reader for the format we promise."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    record = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    return header, np.frombuffer(data[end:], dtype=record)


def test_ply_round_trip(tmp_path):
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(100, 3, generator=generator)
    colours = torch.randint(0, 256, (100, 3), generator=generator, dtype=torch.uint8)
    path = write_ply(tmp_path / "cloud.ply", points, colours)
    header, records = _read_ply(path)
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    assert "element vertex 100" in header
    assert [line for line in header if line.startswith("property")] == [
        "property float x", "property float y", "property float z",
        "property uchar red", "property uchar green", "property uchar blue",
    ]  # fmt: skip
    assert len(records) == 100
    assert np.array_equal(np.stack([records[a] for a in "xyz"], 1), points.numpy())
    assert np.array_equal(np.stack([records[c] for c in ("red", "green", "blue")], 1), colours.numpy())


def test_trimesh_reads_the_ply(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    points = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    colours = np.full((50, 3), (10, 200, 30), dtype=np.uint8)
    cloud = trimesh.load(write_ply(tmp_path / "cloud.ply", points, colours))
    assert len(cloud.vertices) == 50
    assert np.allclose(cloud.vertices, points)
    assert np.array_equal(np.asarray(cloud.colors)[:, :3], colours)


def test_write_ply_refuses_bad_input_and_existing_files(tmp_path):
    points = torch.zeros(4, 3)
    with pytest.raises(UsageError, match="uint8"):
        write_ply(tmp_path / "a.ply", points, torch.zeros(4, 3))
    with pytest.raises(UsageError, match=r"\(N, 3\)"):
        write_ply(tmp_path / "a.ply", torch.zeros(4, 2), torch.zeros(4, 2, dtype=torch.uint8))
    with pytest.raises(UsageError, match="colours must have shape"):
        write_ply(tmp_path / "a.ply", points, torch.zeros(3, 3, dtype=torch.uint8))
    path = write_ply(tmp_path / "a.ply", points, torch.zeros(4, 3, dtype=torch.uint8))
    with pytest.raises(UsageError, match="already exists"):
        write_ply(path, points, torch.zeros(4, 3, dtype=torch.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ply"]


def test_empty_cloud(tmp_path):
    header, records = _read_ply(write_ply(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3), np.uint8)))
    assert "element vertex 0" in header and len(records) == 0


def test_panorama_points_lie_on_the_globe():
    panorama = torch.rand(3, 8, 16)
    points, colours = panorama_points(panorama)
    assert points.shape == (128, 3) and colours.shape == (128, 3) and colours.dtype == torch.uint8
    assert torch.allclose(points.norm(dim=-1), torch.ones(128), atol=1e-5)
    assert points[:16, 1].min() > 0  # the top row is up (+Y)
    bumpy, _ = panorama_points(panorama, displace=0.5, stride=2)
    assert bumpy.shape == (32, 3) and not torch.allclose(bumpy.norm(dim=-1), torch.ones(32))


def test_views_points_place_a_forward_view_in_front():
    views = torch.rand(2, 3, 4, 4)
    cameras = [{"azimuth": 0, "elevation": 0, "roll": 0, "fov": 10}, {"azimuth": 90, "elevation": 0, "fov": 10}]
    points, colours = views_points(views, cameras)
    assert points.shape == (32, 3) and colours.shape == (32, 3)
    assert (points[:16, 2] > 0.99).all()  # forward faces +Z
    assert (points[16:, 0] > 0.99).all()  # azimuth 90 (east) at +X
    with pytest.raises(UsageError, match="cameras"):
        views_points(views, cameras[:1])


def test_viewer_without_open3d_says_how_to_install(monkeypatch):
    try:
        import open3d  # noqa: F401
    except ImportError:
        with pytest.raises(GanoramaError, match="pip install open3d"):
            require_open3d()
        with pytest.raises(GanoramaError, match="pip install open3d"):
            view_point_cloud(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.uint8))
    else:  # with open3d: without a display, a clear error instead of a crash
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.setattr("sys.platform", "linux")
        with pytest.raises(GanoramaError, match="no display"):
            view_point_cloud(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.uint8))
