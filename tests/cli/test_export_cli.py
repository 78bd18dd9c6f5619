"""``ganorama cubemap | turntable | mesh``: bad inputs exit 2 with one line, outputs appear."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

COMMANDS = ("cubemap", "turntable", "mesh")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)  # fmt: skip


def assert_usage_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def panorama(tmp_path) -> Path:
    path = tmp_path / "pano.png"
    image = Image.new("RGB", (64, 32))
    image.putdata([(x * 4, y * 8, 100) for y in range(32) for x in range(64)])
    image.save(path)
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_file(tmp_path, command):
    assert_usage_error(run_cli(command, "missing.png", cwd=tmp_path), "missing.png", "does not exist")


@pytest.mark.parametrize("command", COMMANDS)
def test_not_an_image(tmp_path, command):
    (tmp_path / "notes.png").write_text("hello")
    assert_usage_error(run_cli(command, "notes.png", cwd=tmp_path), "notes.png", "not an image")


@pytest.mark.parametrize("command", COMMANDS)
def test_not_two_to_one(tmp_path, command):
    Image.new("RGB", (50, 40)).save(tmp_path / "photo.png")
    assert_usage_error(run_cli(command, "photo.png", cwd=tmp_path), "photo.png", "2:1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_cubemap_writes_faces_and_refuses_to_overwrite(tmp_path, panorama):
    result = run_cli("cubemap", panorama.name, "--face-size", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outdir = tmp_path / "pano_cubemap"
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        ["px.png", "nx.png", "py.png", "ny.png", "pz.png", "nz.png", "cross.png"]
    )
    assert Image.open(outdir / "cross.png").size == (32, 24)
    assert_usage_error(run_cli("cubemap", panorama.name, cwd=tmp_path), "already exists")


def test_cubemap_unknown_format(tmp_path, panorama):
    assert_usage_error(run_cli("cubemap", panorama.name, "--format", "tiff", cwd=tmp_path), "png", "jpg")


def test_mesh_writes_glb_and_refuses_to_overwrite(tmp_path, panorama):
    result = run_cli("mesh", panorama.name, "-o", "s.glb", "--rings", "8", "--segments", "16", "--displace", "0.1",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.glb").read_bytes()[:4] == b"glTF"
    assert_usage_error(run_cli("mesh", panorama.name, "-o", "s.glb", cwd=tmp_path), "already exists")
    assert_usage_error(run_cli("mesh", panorama.name, "-o", "s.obj", cwd=tmp_path), ".glb")
    assert_usage_error(run_cli("mesh", panorama.name, "-o", "t.glb", "--displace", "5", cwd=tmp_path), "displace")


def test_turntable_writes_gif_and_refuses_bad_outputs(tmp_path, panorama):
    result = run_cli("turntable", panorama.name, "-o", "spin.gif", "--frames", "3", "--size", "16", "--device", "cpu",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "spin.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (16, 16)
    assert_usage_error(run_cli("turntable", panorama.name, "-o", "spin.gif", cwd=tmp_path), "already exists")
    assert_usage_error(run_cli("turntable", panorama.name, "-o", "spin.avi", cwd=tmp_path), ".gif or .mp4")
    bad_device = run_cli("turntable", panorama.name, "-o", "x.gif", "--device", "toaster", cwd=tmp_path)
    assert_usage_error(bad_device, "device")


def test_turntable_mp4_without_imageio_ffmpeg(tmp_path, panorama):
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        assert_usage_error(run_cli("turntable", panorama.name, "-o", "spin.mp4", cwd=tmp_path), "ganorama[video]")
    else:
        pytest.skip("imageio-ffmpeg is installed")
