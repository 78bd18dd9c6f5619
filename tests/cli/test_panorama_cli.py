"""``ganorama panorama`` end to end on a random-weight test fixture."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path | None = None, script: tuple[str, ...] = ("-m", "ganorama")) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *script, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)  # fmt: skip


SEED_COMMAND = ("-n", "2", "--class_names", "sandbar|valley", "--no_share_z", "--seed", "1")


def test_panorama_writes_numbered_pngs_and_json_and_never_overwrites(tmp_path, tiny_checkpoint):
    outdir = tmp_path / "out"
    first = run_cli("panorama", *SEED_COMMAND, "--weights", str(tiny_checkpoint), "-o", str(outdir))
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in outdir.iterdir()) == ["0.json", "0.png", "1.json", "1.png"]
    image = Image.open(outdir / "0.png")
    assert image.size == (2000, 1000)
    metadata = json.loads((outdir / "1.json").read_text())
    request = metadata["request"]
    assert metadata["seed"] == 2 and request["classes"] == "valley" and request["no_share_z"] is True
    assert metadata["view_classes"][0] == {"979": 1.0}

    second = run_cli("panorama", *SEED_COMMAND, "--weights", str(tiny_checkpoint), "-o", str(outdir))
    assert second.returncode == 0, second.stderr
    assert {"2.png", "3.png", "2.json", "3.json"} <= {p.name for p in outdir.iterdir()}
    assert (outdir / "0.png").read_bytes() == (outdir / "2.png").read_bytes()

    elsewhere = tmp_path / "again"
    third = run_cli("panorama", *SEED_COMMAND, "--weights", str(tiny_checkpoint), "-o", str(elsewhere))
    assert third.returncode == 0, third.stderr
    assert (elsewhere / "1.png").read_bytes() == (outdir / "1.png").read_bytes()
    assert not list(outdir.glob(".*part*")), "no temporary files left behind"


def test_seed_main_py_command_runs_verbatim(tmp_path, tiny_checkpoint):
    result = run_cli("-n", "1", "--z_mul", "3", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "o"),
                     "--panorama_width", "64", "--panorama_height", "32", "--save_views",
                     script=(str(REPO / "main.py"),))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "0.png").exists() and (tmp_path / "o" / "0_views.png").exists()
    assert json.loads((tmp_path / "o" / "0.json").read_text())["request"]["z_mul"] == 3.0


@pytest.mark.parametrize(
    "arguments,expected",
    [
        (("--start_layer", "9", "--end_layer", "3"), "--start_layer 9 --end_layer 3 is invalid"),
        (("--truncation", "0"), "truncation"),
        (("--panorama_width", "0"), "--panorama_width"),
        (("--class_names", "sandbr"), "sandbar (977)"),
        (("--layout", "ring"), "--layout"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_traceback(tmp_path, tiny_checkpoint, arguments, expected):
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path), *arguments)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_panorama_export_flags_write_every_export_beside_the_image(tmp_path, tiny_checkpoint):
    outdir = tmp_path / "o"
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(outdir), "--seed", "4",
                     "--panorama_width", "128", "--panorama_height", "64", "--format", "jpg",
                     "--cubemap", "--viewer", "--mesh", "--export_point_cloud")  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = {p.name for p in outdir.iterdir()}
    assert {"0.jpg", "0.json", "0.html", "0.glb", "0.ply", "0_cubemap"} <= names
    printed = set(result.stdout.split())
    faces = [f"0_cubemap/{face}.jpg" for face in ("px", "nx", "py", "ny", "pz", "nz", "cross")]  # each face, as cubemap prints
    assert printed == {str(outdir / name) for name in ("0.jpg", "0.json", "0.html", "0.glb", "0.ply", *faces)}
    assert {p.name for p in (outdir / "0_cubemap").iterdir()} == {f"{f}.jpg" for f in ("px", "nx", "py", "ny", "pz", "nz", "cross")}
    assert Image.open(outdir / "0.jpg").size == (128, 64)
    assert b"GPano:ProjectionType" in (outdir / "0.jpg").read_bytes()


def test_reproduce_makes_the_same_bytes_from_a_sidecar(tmp_path, tiny_checkpoint):
    first = run_cli("bigimg", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "a"), "--seed", "5",
                    "--batch_size", "4", "--rows", "2", "--wrap", "x", "--max_views", "3")  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = run_cli("reproduce", str(tmp_path / "a" / "0.json"), "-o", str(tmp_path / "b.png"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a" / "0.png").read_bytes()
    recorded = json.loads((tmp_path / "b.json").read_text())
    assert recorded["max_views"] == 3 and recorded["request"]["wrap"] == "x"


def test_layout_file_and_auto_width(tmp_path, tiny_checkpoint):
    from ganorama.canvas.layouts import cube_layout

    layout = tmp_path / "cube.json"
    layout.write_text(json.dumps([vars(view) for view in cube_layout()]))
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "o"), "--seed", "2",
                     "--layout", str(layout), "--panorama_width", "auto", "--panorama_height", "auto")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 32 px views of 100 degrees: 32 * 360 / 100 = 115.2 -> 116 (even)
    assert Image.open(tmp_path / "o" / "0.png").size == (116, 58)
    metadata = json.loads((tmp_path / "o" / "0.json").read_text())
    assert len(metadata["request"]["layout"]) == 6 and metadata["request"]["panorama_width"] == 116


def test_several_panoramas_per_forward_match_one_at_a_time(tmp_path, tiny_checkpoint):
    """-n 3 --batch 3 (one forward of 3 x 18 views) against -n 3 one by one: same seeds and
    classes; 8-bit images at most one level apart in at most 0.1% of their values."""
    import numpy as np

    common = ("panorama", "--weights", str(tiny_checkpoint), "-n", "3", "--seed", "4", "--class_names",
              "sandbar|valley", "--panorama_width", "128", "--panorama_height", "64", "--max_views", "64")  # fmt: skip
    together = run_cli(*common, "--batch", "3", "-o", str(tmp_path / "together"))
    alone = run_cli(*common, "-o", str(tmp_path / "alone"))
    assert together.returncode == 0 and alone.returncode == 0, together.stderr + alone.stderr
    for index in range(3):
        batched = json.loads((tmp_path / "together" / f"{index}.json").read_text())
        single = json.loads((tmp_path / "alone" / f"{index}.json").read_text())
        assert batched["canvases_per_forward"] == 3 and single["canvases_per_forward"] == 1
        # The same request but for the chunk size each forward used (3 x 18 views vs 18).
        assert batched["max_views"] == 54 and single["max_views"] == 18
        assert {**batched["request"], "max_views": 18} == single["request"]
        a = np.asarray(Image.open(tmp_path / "together" / f"{index}.png"), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "alone" / f"{index}.png"), dtype=np.int16)
        assert np.abs(a - b).max() <= 1 and (a != b).mean() <= 0.001


def test_an_offline_first_run_names_the_flag_to_pass_not_the_python_keyword(tmp_path):
    # run_cli is offline, and every test has an empty model cache of its own (HF_HOME).
    result = run_cli("panorama", "-m", "biggan-deep-128", "-o", str(tmp_path / "p.png"))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pass --weights DIR" in lines[0] and 'weights="DIR"' not in lines[0], lines


def test_dense_layout_at_auto_width_is_native_size_from_many_views_and_reproduces(tmp_path, tiny_checkpoint):
    """dense at 32 px: 32 views of 22.5 degrees around the equator, 512 x 256 natively (2048
    at 128); the sidecar lists every view and reproduces the same bytes, chunked."""
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "o"), "--seed", "3",
                     "--layout", "dense", "--panorama_width", "auto", "--max_views", "40")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "o" / "0.png").size == (512, 256)
    metadata = json.loads((tmp_path / "o" / "0.json").read_text())
    assert len(metadata["views"]) > 18 and metadata["request"]["layout"] == "dense"
    assert metadata["max_views"] == 40
    again = run_cli("reproduce", str(tmp_path / "o" / "0.json"), "--weights", str(tiny_checkpoint),
                    "-o", str(tmp_path / "again.png"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "o" / "0.png").read_bytes()


def test_one_panorama_side_given_alone_sets_the_other(tmp_path, tiny_checkpoint):
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "o"), "--seed", "3",
                     "--panorama_height", "40")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "o" / "0.png").size == (80, 40)


def test_auto_dtype_is_recorded_and_reproduced_on_a_cpu_that_would_choose_otherwise(tmp_path, tiny_checkpoint,
                                                                                   monkeypatch):  # fmt: skip
    """A result made in bfloat16 by ``auto`` (a CPU with bfloat16 units) records it, and
    reproduce keeps it where ``auto`` would now pick float32: the same bytes."""
    monkeypatch.setenv("GANORAMA_CPU_BFLOAT16", "1")
    first = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / "a.png"), "--seed", "3",
                    "--panorama_width", "128", "--device", "cpu")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "a.json").read_text())["dtype"] == "bfloat16"
    monkeypatch.setenv("GANORAMA_CPU_BFLOAT16", "0")
    again = run_cli("reproduce", str(tmp_path / "a.json"), "-o", str(tmp_path / "b.png"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "b.json").read_text())["dtype"] == "bfloat16"
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    asked = run_cli("reproduce", str(tmp_path / "a.json"), "-o", str(tmp_path / "c.png"), "--model_dtype", "float32")
    assert asked.returncode == 0, asked.stderr
    assert json.loads((tmp_path / "c.json").read_text())["dtype"] == "float32"


def _run_with_env(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, timeout=300)  # fmt: skip


def test_ganorama_weights_sets_the_weights_of_every_command_once(tmp_path, tiny_checkpoint):
    env = {"GANORAMA_WEIGHTS": str(tiny_checkpoint)}
    made = _run_with_env("panorama", "--seed", "3", "--panorama_width", "64", "-o", "p.png", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "p.json").read_text())["weights"] == str(tiny_checkpoint)
    flat = _run_with_env("bigimg", "--seed", "3", "-o", "b.png", cwd=tmp_path, env=env)
    assert flat.returncode == 0, flat.stderr


def test_ganorama_weights_that_do_not_exist_say_where_they_came_from(tmp_path):
    result = _run_with_env("panorama", "--panorama_width", "64", "-o", "p.png", cwd=tmp_path,
                           env={"GANORAMA_WEIGHTS": "./nowhere"})  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "(from GANORAMA_WEIGHTS)" in lines[0] and "--weights DIR overrides" in lines[0], lines


def test_a_sidecar_records_relative_weights_absolutely_and_reproduces_from_another_directory(tmp_path, tiny_checkpoint):
    import shutil

    shutil.copytree(tiny_checkpoint, tmp_path / "my-biggan")
    made = _run_with_env("panorama", "--seed", "5", "--panorama_width", "64", "--weights", "./my-biggan", "-o",
                         "p.png", cwd=tmp_path, env={})  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "p.json").read_text())["weights"] == str((tmp_path / "my-biggan").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _run_with_env("reproduce", "../p.json", "-o", "again.png", cwd=elsewhere, env={})
    assert again.returncode == 0, again.stderr
    assert (elsewhere / "again.png").read_bytes() == (tmp_path / "p.png").read_bytes()


def test_a_sidecar_whose_weights_are_gone_says_so_and_that_weights_overrides(tmp_path, tiny_checkpoint):
    sidecar = tmp_path / "old.json"
    made = _run_with_env("panorama", "--seed", "5", "--panorama_width", "64", "--weights", str(tiny_checkpoint), "-o",
                         "old.png", cwd=tmp_path, env={})  # fmt: skip
    assert made.returncode == 0, made.stderr
    recorded = json.loads(sidecar.read_text())
    recorded["weights"] = "./my-biggan"  # as sidecars before the fix recorded it: relative to where it ran
    sidecar.write_text(json.dumps(recorded))
    again = _run_with_env("reproduce", "old.json", "-o", "again.png", cwd=tmp_path, env={})
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1, again.stderr
    assert "(from sidecar old.json)" in lines[0] and "--weights DIR overrides" in lines[0], lines
    fixed = _run_with_env("reproduce", "old.json", "-o", "again.png", "--weights", str(tiny_checkpoint), cwd=tmp_path,
                          env={})  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr


def test_cubemap_flag_and_cubemap_command_print_the_same_face_files(tmp_path, tiny_checkpoint):
    made = _run_with_env("panorama", "--seed", "1", "--panorama_width", "64", "--cubemap", "--weights",
                         str(tiny_checkpoint), "-o", "a.png", cwd=tmp_path, env={})  # fmt: skip
    assert made.returncode == 0, made.stderr
    printed = made.stdout.split()
    command = _run_with_env("cubemap", "a.png", "-o", "faces", cwd=tmp_path, env={})
    assert command.returncode == 0, command.stderr
    faces = [Path(line).name for line in command.stdout.split()]
    assert printed == ["a.png", *(f"a_cubemap/{name}" for name in faces), "a.json"]
    assert len(faces) == 7 and all((tmp_path / line).is_file() for line in printed)
