"""``ganorama cubemap | turntable | mesh | view``: bad inputs and outputs exit 2 with one line
before any work, outputs appear and are printed, the --help examples run."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ganorama.cli import main

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
    """Without the video extra (its import blocked here, as if not installed) the command
    says what to install, before rendering anything."""
    blocked = ("import sys; sys.modules['imageio_ffmpeg'] = None; "
               "from ganorama.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", blocked, "turntable", panorama.name, "-o", "spin.mp4"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert_usage_error(result, 'pip install "ganorama[video]" (from a clone: pip install -e ".[video]")')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png"]


# --------------------------------------------------------------------------------------
# In-process runs (fast): refusals before any work, and what each command prints
# --------------------------------------------------------------------------------------
def run_main(capsys, *argv) -> tuple[int, list[str], str]:
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def assert_refused(status: int, err: str, command: str, *fragments: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ganorama {command}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


SIZES_THAT_CANNOT_FIT = [
    (("cubemap", "--face-size", "100000"), ("100000x100000 faces needs about", "of memory", "available")),
    (("mesh", "-o", "m.glb", "--rings", "100000", "--segments", "100000"), ("makes a .glb of about", "4 GiB")),
    (("turntable", "--frames", "10000000"), ("frames 10000000", "allowed: 1 to 3600")),
    (("turntable", "--size", "100000"), ("size 100000 is too large for a GIF", "65535")),
    (("turntable", "-o", "big.mp4", "--size", "100000"), ("needs about", "of memory", "available")),
]


@pytest.mark.parametrize("argv, fragments", SIZES_THAT_CANNOT_FIT, ids=lambda value: "-".join(value)[:40])
def test_sizes_that_cannot_fit_are_refused_before_any_work(capsys, tmp_path, monkeypatch, panorama, argv, fragments):
    monkeypatch.chdir(tmp_path)
    command, *options = argv
    status, out, err = run_main(capsys, command, panorama.name, *options)
    assert_refused(status, err, command, *fragments)
    assert out == [] and sorted(p.name for p in tmp_path.iterdir()) == ["pano.png"]


# (command, -o value, message fragment), for outputs that cannot be written.
BAD_OUTPUTS = [
    (command, output.replace("EXT", suffix), fragment)
    for command, suffix in (("cubemap", ""), ("view", ".html"), ("mesh", ".glb"), ("turntable", ".gif"))
    for output, fragment in (
        ("/proc/nopeEXT", "cannot create files in /proc"),
        ("/dev/null/xEXT", "/dev/null is not a directory"),
        ("plain/xEXT", "plain is not a directory"),  # an existing file where a directory is needed
        ("n" * 300 + "EXT", "bytes long"),
    )
] + [
    ("cubemap", "plain", "exists and is not a directory"),
    ("cubemap", "faces.png", "looks like an image file name"),
    ("view", "x.png", "must end in .html or .htm"),
    ("mesh", "x.png", "must end in .glb"),
    ("turntable", "x.png", "must end in .gif or .mp4"),
    ("view", "plain", "must end in .html or .htm"),
    ("turntable", "taken.gif", "already exists"),
    ("mesh", "taken.glb", "already exists"),
    ("view", "taken.html", "already exists"),
]


@pytest.mark.parametrize("command, output, fragment", BAD_OUTPUTS, ids=lambda value: str(value)[:24])
def test_bad_outputs_are_refused_before_the_panorama_is_read(capsys, tmp_path, monkeypatch, command, output, fragment):
    monkeypatch.chdir(tmp_path)
    for name in ("plain", "taken.gif", "taken.glb", "taken.html"):
        (tmp_path / name).write_text("keep")
    before = {path.name: path.read_text() for path in tmp_path.iterdir()}
    # The panorama does not exist: the output is what gets refused, so it was checked first.
    status, out, err = run_main(capsys, command, "missing.png", "-o", output)
    assert_refused(status, err, command, fragment)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == before


def test_each_command_prints_every_file_it_wrote(capsys, tmp_path, monkeypatch, panorama):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(capsys, "cubemap", panorama.name, "--face-size", "8", "-o", "cube")
    assert status == 0, err
    assert sorted(out) == sorted(str(Path("cube") / f"{name}.png") for name in ("px", "nx", "py", "ny", "pz", "nz",
                                                                                 "cross"))  # fmt: skip
    for command, output, extra in (("view", "v.html", ()), ("mesh", "m.glb", ("--rings", "4", "--segments", "8")),
                                   ("turntable", "t.gif", ("--frames", "2", "--size", "8", "--quiet"))):  # fmt: skip
        status, out, err = run_main(capsys, command, panorama.name, "-o", output, *extra)
        assert status == 0, err
        assert out == [output] and err == ""
    written = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()}
    assert written == {"pano.png", "v.html", "m.glb", "t.gif"} | {line for line in map(str, Path("cube").glob("*"))}


# --------------------------------------------------------------------------------------
# The examples in each command's --help run as written
# --------------------------------------------------------------------------------------
def help_examples(command: str, capsys) -> list[list[str]]:
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text, f"{command} --help shows no examples"
    lines = text.split("examples:", 1)[1].splitlines()
    return [shlex.split(line.strip()) for line in lines if line.strip().startswith("ganorama ")]


@pytest.mark.parametrize("command", ["cubemap", "view", "mesh", "turntable"])
def test_help_examples_run(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "out" / "panorama" / "0.png"  # where ganorama panorama writes its first result
    source.parent.mkdir(parents=True)
    image = Image.new("RGB", (128, 64))
    image.putdata([(2 * x, 4 * y, 128 + x % 64) for y in range(64) for x in range(128)])
    image.save(source)
    examples = help_examples(command, capsys)
    assert len(examples) >= 2, examples
    for argv in examples:
        assert argv[:2] == ["ganorama", command], argv
        if any(arg.endswith(".mp4") for arg in argv):
            pytest.importorskip("imageio_ffmpeg")
        status, out, err = run_main(capsys, *argv[1:])
        assert status == 0, (argv, err)
        assert out and all(Path(line).is_file() for line in out), (argv, out)
