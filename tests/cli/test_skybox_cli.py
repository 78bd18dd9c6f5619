"""``ganorama skybox`` and ``--format png16|exr|hdr`` on the generating commands: files
appear and are printed; bad engines, formats and face sizes exit 2 with one line before
the panorama (or the model) is read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganorama.cli import main
from ganorama.engines import ENGINES


def run_main(capsys, *argv) -> tuple[int, list[str], str]:
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def assert_refused(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_engine_list_prints_one_line_per_preset(capsys):
    status, out, _ = run_main(capsys, "skybox", "--engine", "list")
    assert status == 0 and [line.split()[0] for line in out] == list(ENGINES)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_each_engine_writes_its_files_and_a_readme_and_prints_them(capsys, tmp_path, monkeypatch, panorama, engine):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(capsys, "skybox", panorama.name, "--engine", engine)
    assert status == 0, err
    folder = tmp_path / f"pano_{engine}"
    assert sorted(out) == sorted(str(Path(f"pano_{engine}") / p.name) for p in folder.iterdir())
    assert (folder / "README.txt").is_file()
    status, _, err = run_main(capsys, "skybox", panorama.name, "--engine", engine)
    assert_refused(status, err, "already exists")


REFUSALS = [
    (("--engine", "doom"), ("unknown engine 'doom'", "allowed: unity, unreal, godot, blender, threejs, babylon, sansar")),
    (("--engine", "sansar", "--face-size", "5000"), ("over sansar's limit of 4096", "allowed: 1 to 4096")),
    (("--engine", "unreal", "--format", "exr"), ("--format exr cannot be written for unreal", "allowed: hdr")),
    (("--engine", "threejs", "--format", "exr"), ("for threejs", "allowed: png, jpg")),
    (("--engine", "blender", "--face-size", "64"), ("--face-size does not apply to blender",)),
    (("--engine", "unity", "-o", "sky.png"), ("looks like an image file name",)),
]


@pytest.mark.parametrize("options, fragments", REFUSALS, ids=lambda value: "-".join(value)[:30])
def test_bad_input_exits_2_with_one_line_before_the_panorama_is_read(capsys, tmp_path, monkeypatch, options, fragments):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(capsys, "skybox", "missing.png", *options)
    assert_refused(status, err, *fragments)
    assert out == [] and list(tmp_path.iterdir()) == []


def test_an_exr_or_16_bit_panorama_is_read_at_full_precision(capsys, tmp_path, monkeypatch):
    import torch

    from ganorama.export.float_images import read_exr, save_float_image, srgb_to_linear

    monkeypatch.chdir(tmp_path)
    image = torch.rand(3, 16, 32)
    save_float_image(image, tmp_path / "pano.exr", "exr")
    status, _, err = run_main(capsys, "skybox", "pano.exr", "--engine", "blender")
    assert status == 0, err
    assert torch.allclose(read_exr(tmp_path / "pano_blender" / "panorama.exr")[0], srgb_to_linear(image), atol=1e-6)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)  # fmt: skip


def test_panorama_writes_exr_and_16_bit_png_results_from_the_float_composition(tmp_path, tiny_checkpoint):
    from ganorama.export.float_images import read_exr, read_png16

    common = ("--weights", str(tiny_checkpoint), "--seed", "4", "--panorama_width", "64", "--panorama_height", "32")
    exr = run_cli("panorama", *common, "--format", "exr", "--cubemap", "-o", "out", cwd=tmp_path)
    assert exr.returncode == 0, exr.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"0.exr", "0.json", "0_cubemap"}
    assert {p.name for p in (tmp_path / "out" / "0_cubemap").iterdir()} == {
        f"{face}.exr" for face in ("px", "nx", "py", "ny", "pz", "nz", "cross")}  # fmt: skip
    sidecar = json.loads((tmp_path / "out" / "0.json").read_text())
    assert sidecar["request"]["format"] == "exr"
    pixels, header = read_exr(tmp_path / "out" / "0.exr")
    assert json.loads(header["ganorama"]) == sidecar and pixels.shape == (3, 32, 64)
    sixteen = run_cli("panorama", *common, "--format", "png16", "-o", "pano.png", cwd=tmp_path)
    assert sixteen.returncode == 0, sixteen.stderr
    assert read_png16(tmp_path / "pano.png").shape == (3, 32, 64)
    # The same composition in both: EXR decoded to sRGB equals the 16-bit PNG to its steps.
    from ganorama.export.float_images import linear_to_srgb

    assert (linear_to_srgb(pixels) - read_png16(tmp_path / "pano.png")).abs().max() < 1 / 65535 + 1e-6


@pytest.mark.parametrize("options, fragment", [
    (("--format", "exr", "--viewer"), "--viewer embeds the image in a web page"),
    (("--format", "hdr", "-o", "x.png"), "--format hdr does not match -o x.png; use a .hdr name"),
    (("--format", "tiff"), "invalid choice: 'tiff'"),
])  # fmt: skip
def test_a_float_format_where_it_cannot_be_written_exits_2_before_the_model_loads(tmp_path, options, fragment):
    result = run_cli("panorama", "--weights", str(tmp_path / "no-such-model.pt"), *options, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []
