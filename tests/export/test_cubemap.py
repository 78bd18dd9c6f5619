"""Cube maps: face orientation (OpenGL / three.js), seams, round trip, files."""
from __future__ import annotations

import errno
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.export.cubemap import (
    FACES,
    cubemap_to_equirect,
    direction_to_face,
    equirect_to_cubemap,
    face_directions,
    horizontal_cross,
    save_cubemap,
)

H, W = 64, 128

# The documented orientation, written out independently: face -> (centre direction,
# direction of the face's right edge, direction of its top edge), in our world frame
# (x right, y down, z forward).
FORWARD, BACK = (0, 0, 1), (0, 0, -1)
RIGHT, LEFT = (1, 0, 0), (-1, 0, 0)
UP, DOWN = (0, -1, 0), (0, 1, 0)
EXPECTED = {
    "px": (RIGHT, BACK, UP),
    "nx": (LEFT, FORWARD, UP),
    "py": (UP, RIGHT, BACK),
    "ny": (DOWN, RIGHT, FORWARD),
    "pz": (FORWARD, RIGHT, UP),
    "nz": (BACK, LEFT, UP),
}


def direction_panorama(height: int = H, width: int = W) -> torch.Tensor:
    """(3, H, W) whose colour encodes the pixel's direction: (d + 1) / 2."""
    return (geometry.equirect_directions(height, width).permute(2, 0, 1) + 1) / 2


def decode(colour: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(colour * 2 - 1, dim=0)


def centre(face: torch.Tensor) -> torch.Tensor:
    """Mean colour of the central 2x2 pixels of an even-sized face: (C,)."""
    size = face.shape[-1]
    return face[:, size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1].mean(dim=(1, 2))


@pytest.mark.parametrize("name", FACES)
def test_face_centres_and_edges_look_where_documented(name):
    faces = equirect_to_cubemap(direction_panorama())
    face = faces[name]
    size = face.shape[-1]
    assert size == W // 4
    expected_centre, expected_right, expected_up = (torch.tensor(v, dtype=torch.float32) for v in EXPECTED[name])
    assert torch.allclose(decode(centre(face)), expected_centre, atol=0.03)
    # Middle of the right edge leans right; middle of the top edge leans up (45 degrees).
    right_edge = decode(face[:, size // 2 - 1 : size // 2 + 1, -1].mean(dim=1))
    top_edge = decode(face[:, 0, size // 2 - 1 : size // 2 + 1].mean(dim=1))
    assert torch.allclose(right_edge, torch.nn.functional.normalize(expected_centre + expected_right, dim=0), atol=0.05)
    assert torch.allclose(top_edge, torch.nn.functional.normalize(expected_centre + expected_up, dim=0), atol=0.05)


def test_forward_face_centre_is_the_equirect_centre_and_up_face_the_top_row():
    # A bright 2x2 block centred exactly on the equirect's centre column at the equator
    # lands, symmetrically, on the centre of pz and nowhere else.
    marker = torch.zeros(3, H, W)
    marker[:, H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1] = 1.0
    faces = equirect_to_cubemap(marker)
    size = faces["pz"].shape[-1]
    block = faces["pz"][0, size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1]
    assert block.min() > 0.5 and torch.allclose(block, block[0, 0].expand(2, 2))
    near_centre = faces["pz"][0, size // 2 - 2 : size // 2 + 2, size // 2 - 2 : size // 2 + 2]
    assert faces["pz"][0].sum() == pytest.approx(near_centre.sum())  # nothing further out
    assert all(faces[name].abs().max() == 0 for name in FACES if name != "pz")
    torch.manual_seed(0)
    panorama = torch.rand(3, H, W)
    # The py face's centre is the north pole, the top row (its central pixels lie
    # between rows 0 and 1, so mark both).
    flat_top = panorama.clone()
    flat_top[:, :2] = torch.tensor([0.9, 0.1, 0.4])[:, None, None]
    assert torch.allclose(centre(equirect_to_cubemap(flat_top)["py"]), torch.tensor([0.9, 0.1, 0.4]), atol=1e-5)
    flat_bottom = panorama.clone()
    flat_bottom[:, -2:] = torch.tensor([0.2, 0.7, 0.3])[:, None, None]
    assert torch.allclose(centre(equirect_to_cubemap(flat_bottom)["ny"]), torch.tensor([0.2, 0.7, 0.3]), atol=1e-5)


def test_face_directions_and_direction_to_face_are_inverse():
    size = 8
    directions = face_directions(size)
    face, coords = direction_to_face(directions)
    expected_face = torch.arange(6)[:, None, None].expand(6, size, size)
    assert torch.equal(face, expected_face)
    grid = geometry.pixel_grid(size, size)
    assert torch.allclose(coords, grid.expand(6, -1, -1, -1), atol=1e-5)


def test_cross_layout_edges_continue_each_other():
    faces = equirect_to_cubemap(direction_panorama(128, 256))
    cross = horizontal_cross(faces)
    size = faces["px"].shape[-1]
    assert cross.shape == (3, 3 * size, 4 * size)
    middle = cross[:, size : 2 * size]
    # Along the middle row, each face's last column meets the next face's first column,
    # and nz's last column wraps round to nx's first.
    for column in range(4):
        left_edge = middle[:, :, (column + 1) * size - 1]
        right_edge = middle[:, :, ((column + 1) % 4) * size]
        assert (decode(left_edge) - decode(right_edge)).norm(dim=0).max() < 3 * math.pi / (2 * size)
    pz = faces["pz"]
    assert (decode(faces["py"][:, -1]) - decode(pz[:, 0])).norm(dim=0).max() < 3 * math.pi / (2 * size)
    assert (decode(faces["ny"][:, 0]) - decode(pz[:, -1])).norm(dim=0).max() < 3 * math.pi / (2 * size)
    assert cross[:, :size, :size].abs().max() == 0  # unused cells stay black


def smooth_panorama(height: int, width: int) -> torch.Tensor:
    """Low-frequency colours, continuous on the sphere (functions of the direction)."""
    d = geometry.equirect_directions(height, width)
    x, y, z = d.unbind(-1)
    return torch.stack((0.5 + 0.4 * x * z, 0.5 + 0.3 * y + 0.1 * x, 0.5 + 0.4 * torch.sin(2 * z + x))).clamp(0, 1)


def test_round_trip_psnr():
    panorama = smooth_panorama(H, W)
    back = cubemap_to_equirect(equirect_to_cubemap(panorama), H, W)
    assert back.shape == panorama.shape
    rows = slice(2, H - 2)  # the poles' last rows are clamped in both directions
    mse = (back[:, rows] - panorama[:, rows]).pow(2).mean().item()
    psnr = 10 * math.log10(1 / mse)
    assert psnr >= 35, psnr


def test_face_size_and_dtype():
    faces = equirect_to_cubemap(smooth_panorama(H, W).double(), face_size=10)
    assert all(face.shape == (3, 10, 10) and face.dtype == torch.float64 for face in faces.values())


def test_bad_inputs():
    with pytest.raises(UsageError, match="2:1"):
        equirect_to_cubemap(torch.rand(3, 64, 100))
    faces = equirect_to_cubemap(smooth_panorama(H, W))
    del faces["nz"]
    with pytest.raises(UsageError, match="nz"):
        horizontal_cross(faces)


def test_save_cubemap_writes_seven_files_and_never_overwrites(tmp_path):
    image = Image.fromarray((smooth_panorama(H, W) * 255).round().byte().permute(1, 2, 0).numpy())
    source = tmp_path / "pano.png"
    image.save(source)
    written = save_cubemap(source, tmp_path / "cube")
    assert sorted(path.name for path in written.values()) == sorted([f"{name}.png" for name in FACES] + ["cross.png"])
    for name, path in written.items():
        with Image.open(path) as face:
            assert face.size == ((4 * 32, 3 * 32) if name == "cross" else (32, 32))
    before = {path: path.read_bytes() for path in written.values()}
    with pytest.raises(UsageError, match="already exists"):
        save_cubemap(image, tmp_path / "cube")
    assert {path: path.read_bytes() for path in written.values()} == before
    assert sorted(p.name for p in (tmp_path / "cube").iterdir()) == sorted(path.name for path in written.values())


def test_save_cubemap_jpeg_and_bad_format(tmp_path):
    panorama = smooth_panorama(H, W)
    written = save_cubemap(panorama, tmp_path / "cube", face_size=16, format="jpg")
    with Image.open(written["px"]) as face:
        assert face.format == "JPEG" and face.size == (16, 16)
    with pytest.raises(UsageError, match="allowed: png, jpg, png16, exr, hdr"):
        save_cubemap(panorama, tmp_path / "other", format="tiff")
    assert not (tmp_path / "other").exists()


def test_saved_faces_and_cross_are_the_computed_ones(tmp_path):
    """save_cubemap makes one face at a time (to save memory): the files hold what
    equirect_to_cubemap and horizontal_cross give, to 8-bit rounding."""
    panorama = smooth_panorama(H, W)
    written = save_cubemap(panorama, tmp_path / "cube", face_size=24)
    faces = equirect_to_cubemap(panorama, 24)
    expected = {**faces, "cross": horizontal_cross(faces)}
    for name, path in written.items():
        with Image.open(path) as image:
            saved = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        assert saved.shape == expected[name].shape
        assert (saved - expected[name]).abs().max() <= 1 / 255 + 1e-6, name


def failing_after(count: int, real_write):
    """A stand-in for save_image that writes ``count`` files, then fails as a full disk does."""
    calls = []

    def write(image, path, *args, **options):
        if len(calls) == count:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        calls.append(path)
        return real_write(image, path, *args, **options)

    return write


@pytest.mark.parametrize("written_before_failure", [0, 3, 6])
def test_a_cube_map_that_fails_part_way_leaves_no_faces(tmp_path, monkeypatch, written_before_failure):
    import ganorama.export.cubemap as cubemap

    panorama = smooth_panorama(H, W)
    real_write = cubemap.save_image
    monkeypatch.setattr(cubemap, "save_image", failing_after(written_before_failure, real_write))
    with pytest.raises(OSError, match="No space left"):
        save_cubemap(panorama, tmp_path / "new" / "cube", face_size=8)
    assert list(tmp_path.iterdir()) == []  # the directories it created went too
    # In a directory that was there before, only what was there stays.
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    monkeypatch.setattr(cubemap, "save_image", failing_after(written_before_failure, real_write))
    with pytest.raises(OSError):
        save_cubemap(panorama, tmp_path / "keep", face_size=8)
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["notes.txt"]
    # Once the disk has room again, a rerun writes the whole set.
    monkeypatch.setattr(cubemap, "save_image", real_write)
    written = save_cubemap(panorama, tmp_path / "keep", face_size=8)
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == sorted(
        [path.name for path in written.values()] + ["notes.txt"]
    )


def test_save_cubemap_refuses_what_cannot_fit_before_reading(tmp_path, monkeypatch):
    from ganorama import resources

    source = tmp_path / "pano.png"
    Image.new("RGB", (64, 32)).save(source)
    too_big = r"cube map with 100000x100000 faces needs about .* of memory; .* is available"
    with pytest.raises(UsageError, match=too_big):
        save_cubemap(source, tmp_path / "cube", face_size=100_000)
    monkeypatch.setattr(resources, "disk_free", lambda path: 100)
    with pytest.raises(UsageError, match=r"needs about .* of disk space; 100 B is free"):
        save_cubemap(source, tmp_path / "cube", face_size=64)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        save_cubemap(tmp_path / "missing.png", tmp_path / "plain")  # the output is checked first
    with pytest.raises(UsageError, match="cannot create files in /proc"):
        save_cubemap(source, "/proc/cube")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png", "plain"]
