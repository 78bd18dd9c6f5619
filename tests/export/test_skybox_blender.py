"""The Blender preset in Blender itself (Debian's ``blender``, headless, Cycles on the
CPU): the preset's EXR and the .hdr as the World's environment, rendered in known
directions at a small size, match our own perspective render of the panorama; and our
.glb sphere imports with its mesh and texture. Skipped where Blender is not installed
(.ci/run installs it: Debian's package, about 73 MiB to fetch and 18 s to install here).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import torch

from ganorama import geometry
from ganorama.engines import engine_preset
from ganorama.export.float_images import linear_to_srgb, read_exr
from ganorama.export.io import sample_equirect
from ganorama.export.skybox import save_skybox

BLENDER = shutil.which("blender")
pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(BLENDER is None, reason="Blender is not installed (Debian: apt-get install blender)"),
]
SCRIPT = Path(__file__).with_name("blender_world.py")
VIEW, FOV = 24, 90.0
# Directions in Blender's world (Z up): its six axes and two oblique ones, with up vectors.
VIEWS = [
    ((1, 0, 0), (0, 0, 1)), ((-1, 0, 0), (0, 0, 1)), ((0, 1, 0), (0, 0, 1)), ((0, -1, 0), (0, 0, 1)),
    ((0, 0, 1), (1, 0, 0)), ((0, 0, -1), (1, 0, 0)), ((1, -1, 0.5), (0, 0, 1)), ((-0.5, 1, -1), (0, 0, 1)),
]  # fmt: skip
# Blender's world -> ours (x right, y down, z forward): its Environment Texture puts the
# image centre at +X with Z up (Cycles' direction_to_equirectangular), so our forward is
# its +X, our right its -Y, our down its -Z.
BLENDER_TO_OURS = ((0, -1, 0), (0, 0, -1), (1, 0, 0))


def direction_panorama(height: int = 64) -> torch.Tensor:
    return (geometry.equirect_directions(height, 2 * height).permute(2, 0, 1) + 1) / 2


def our_render(panorama: torch.Tensor, direction, up) -> torch.Tensor:
    forward = torch.nn.functional.normalize(torch.tensor(direction, dtype=torch.float64), dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, torch.tensor(up, dtype=torch.float64)), dim=0)
    true_up = torch.linalg.cross(right, forward)
    half = math.tan(math.radians(FOV) / 2)
    grid = geometry.pixel_grid(VIEW, VIEW, dtype=torch.float64)
    rays = forward + half * grid[..., 0:1] * right - half * grid[..., 1:2] * true_up
    return sample_equirect(panorama.double(), rays @ torch.tensor(BLENDER_TO_OURS, dtype=torch.float64).T).float()


def run_blender(tmp_path: Path, environment: Path, glb: Path | None = None) -> dict:
    out = tmp_path / "renders"
    out.mkdir()
    job = {"environment": str(environment), "size": VIEW, "fov": FOV, "samples": 16, "out": str(out),
           "views": [[list(d), list(u)] for d, u in VIEWS], "glb": str(glb) if glb else None}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    # Debian's Blender embeds the system Python and finds its home by the python3 on PATH:
    # the system's first, not a virtual environment's or pyenv's running the tests.
    path = os.pathsep.join([str(Path(BLENDER).resolve().parent), os.environ.get("PATH", "")])
    result = subprocess.run([BLENDER, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                             "--python", str(SCRIPT), "--", str(tmp_path / "job.json")],
                            capture_output=True, text=True, timeout=240, env={**os.environ, "PATH": path})  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads((out / "report.json").read_text())


def angles_degrees(seen: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    a = torch.nn.functional.normalize(seen * 2 - 1, dim=0)
    b = torch.nn.functional.normalize(wanted * 2 - 1, dim=0)
    return torch.rad2deg(torch.acos((a * b).sum(0).clamp(-1, 1)))


def check_views(tmp_path: Path, panorama: torch.Tensor) -> None:
    for index, (direction, up) in enumerate(VIEWS):
        rendered, _ = read_exr(tmp_path / "renders" / f"view_{index}.exr")
        seen = linear_to_srgb(rendered).clamp(0, 1)
        angles = angles_degrees(seen, our_render(panorama, direction, up))
        assert float(angles.mean()) < 2.0 and float(angles.quantile(0.95)) < 5, (direction, float(angles.mean()))


@pytest.mark.parametrize("format", ["exr", "hdr"])
def test_blender_renders_the_preset_as_the_world_in_every_direction(tmp_path, format):
    panorama = direction_panorama()
    written = save_skybox(panorama, tmp_path / "sky", engine_preset("blender"), format=format)
    report = run_blender(tmp_path, written["panorama"])
    assert report["environment_size"] == [128, 64] and report["environment_float"]
    check_views(tmp_path, panorama)


def test_blender_imports_our_glb_sphere_with_its_mesh_and_texture(tmp_path):
    from ganorama.export.mesh import save_sphere_glb

    panorama = direction_panorama(32)
    glb = save_sphere_glb(panorama, tmp_path / "globe.glb", rings=16, segments=32)
    written = save_skybox(panorama, tmp_path / "sky", engine_preset("blender"))
    report = run_blender(tmp_path, written["panorama"], glb=glb)
    data = glb.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + length])
    positions = document["accessors"][document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]["count"]
    assert len(report["meshes"]) == 1 and report["meshes"][0]["has_uv"]
    # Blender's importer keeps every vertex a non-degenerate triangle uses: at each pole
    # one of the copies of the pole point may go.
    assert positions - 2 <= report["meshes"][0]["vertices"] <= positions
    assert report["textures"] == [[64, 32]]
    assert report["radius"][0] == pytest.approx(1.0, abs=1e-4) and report["radius"][1] == pytest.approx(1.0, abs=1e-4)
