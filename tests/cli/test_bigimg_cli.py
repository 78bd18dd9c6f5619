"""``ganorama bigimg`` / ``ganorama texture`` / the seed's ``bigimg.py`` end to end on a
random-weight test fixture (tiles of 32 px, so a 0.5-overlap stride of 16 px)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHIM = (str(REPO / "bigimg.py"),)
MODULE = ("-m", "ganorama", "bigimg")


def run_cli(*args: str, script: tuple[str, ...] = MODULE) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *script, *args], capture_output=True, text=True, env=env, timeout=300)


def fixture_args(checkpoint: Path, outdir: Path, seed: int = 1) -> tuple[str, ...]:
    return ("--weights", str(checkpoint), "--device", "cpu", "--seed", str(seed), "-o", str(outdir))


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_writes_numbered_png_and_json_never_overwrites_and_is_reproducible(tmp_path, tiny_checkpoint):
    outdir = tmp_path / "out"
    first = run_cli("--batch_size", "6", *fixture_args(tiny_checkpoint, outdir))
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in outdir.iterdir()) == ["0.json", "0.png"]
    assert first.stdout.split() == [str(outdir / "0.png"), str(outdir / "0.json")]  # every file written
    assert image_size(outdir / "0.png") == (16 * 7, 32)  # the seed's (S/2) * (batch_size + 1)
    metadata = json.loads((outdir / "0.json").read_text())
    assert metadata["kind"] == "bigimg" and metadata["seed"] == 1
    assert (metadata["rows"], metadata["cols"], metadata["overlap"], metadata["wrap"]) == (1, 6, 0.5, "none")
    assert metadata["request"]["batch_size"] == 6 and metadata["request"]["seed"] == 1
    assert (metadata["width"], metadata["height"]) == (112, 32)
    assert metadata["weights"] == str(tiny_checkpoint)

    second = run_cli("--batch_size", "6", *fixture_args(tiny_checkpoint, outdir))
    assert second.returncode == 0, second.stderr
    assert {"1.png", "1.json"} <= {p.name for p in outdir.iterdir()}
    assert (outdir / "1.png").read_bytes() == (outdir / "0.png").read_bytes()

    elsewhere = tmp_path / "again"
    third = run_cli("--batch_size", "6", *fixture_args(tiny_checkpoint, elsewhere))
    assert third.returncode == 0, third.stderr
    assert (elsewhere / "0.png").read_bytes() == (outdir / "0.png").read_bytes()
    assert not list(outdir.glob(".*part*")), "no temporary files left behind"


def test_seed_bigimg_py_command_runs_verbatim(tmp_path, tiny_checkpoint):
    seed_command = ("-n", "4", '--class_names=orange', "--no_share_z", "--batch_size", "6")
    result = run_cli(*seed_command, *fixture_args(tiny_checkpoint, tmp_path / "o"), "--save_views", script=SHIM)
    assert result.returncode == 0, result.stderr
    for index in range(4):
        assert image_size(tmp_path / "o" / f"{index}.png") == (112, 32)
        metadata = json.loads((tmp_path / "o" / f"{index}.json").read_text())
        assert metadata["seed"] == 1 + index and metadata["request"]["no_share_z"] is True
        assert metadata["view_class_names"] == ["orange"] * 6
    assert image_size(tmp_path / "o" / "0_views.png") == (6 * 32 + 5 * 2, 32)


def test_grid_and_quarter_overlap_give_the_expected_size(tmp_path, tiny_checkpoint):
    result = run_cli("--rows", "2", "--batch_size", "3", "--overlap", "0.25", *fixture_args(tiny_checkpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    assert image_size(tmp_path / "0.png") == (24 * 2 + 32, 24 + 32)


def test_morph_blends_the_classes_left_to_right(tmp_path, tiny_checkpoint):
    result = run_cli("--morph", "--class_names", "orange|lemon", "--batch_size", "5", "--rows", "2",
                     *fixture_args(tiny_checkpoint, tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    metadata = json.loads((tmp_path / "0.json").read_text())
    assert metadata["request"]["morph"] is True and metadata["request"]["classes"] == "orange|lemon"
    orange, lemon = "950", "951"
    first_row = metadata["view_classes"][:5]
    assert first_row[0] == {orange: 1.0} and first_row[-1] == {lemon: 1.0}
    assert first_row[2] == pytest.approx({orange: 0.5, lemon: 0.5})
    assert metadata["view_classes"][5:] == first_row  # every row morphs the same way


def _seam_and_same_phase_jumps(image: np.ndarray, axis: int, stride: int) -> tuple[float, np.ndarray]:
    """The mean |step| across the edge where the image meets its own copy (the wrap
    seam), and the mean |step| at every interior position of the same phase modulo the
    tile stride (where one tile's weight takes over from its neighbour's, as at the seam)."""
    doubled = np.concatenate((image, image), axis=axis)
    size = image.shape[axis]
    steps = np.abs(np.diff(doubled, axis=axis)).mean(axis=tuple(a for a in range(3) if a != axis))
    seam = float(steps[size - 1])
    same_phase = steps[stride - 1 : size - 1 : stride]
    return seam, same_phase


# Over random fixture content the seam step is within ~25% of the largest same-phase
# interior step (see tests/canvas/test_plane.py); an unwrapped image's edge is far above it.
SEAM_MARGIN = 1.25


def test_wrap_xy_output_tiles_and_an_unwrapped_one_does_not(tmp_path, tiny_checkpoint):
    grid = ("--rows", "3", "--batch_size", "4")
    wrapped = run_cli("--wrap", "xy", *grid, *fixture_args(tiny_checkpoint, tmp_path / "w"))
    plain = run_cli(*grid, *fixture_args(tiny_checkpoint, tmp_path / "p"))
    assert wrapped.returncode == 0 and plain.returncode == 0, wrapped.stderr + plain.stderr
    image = np.asarray(Image.open(tmp_path / "w" / "0.png"), dtype=np.float64)
    assert image.shape == (16 * 3, 16 * 4, 3)
    for axis in (0, 1):
        seam, same_phase = _seam_and_same_phase_jumps(image, axis, stride=16)
        assert seam <= SEAM_MARGIN * same_phase.max(), (axis, seam, same_phase)
    # The check can fail: the same grid unwrapped, placed next to itself, shows its seam.
    unwrapped = np.asarray(Image.open(tmp_path / "p" / "0.png"), dtype=np.float64)
    seam, same_phase = _seam_and_same_phase_jumps(unwrapped, 1, stride=16)
    assert seam > SEAM_MARGIN * same_phase.max(), (seam, same_phase)


def test_texture_is_square_wrapped_and_closest_to_the_size(tmp_path, tiny_checkpoint):
    result = run_cli("--size", "100", *fixture_args(tiny_checkpoint, tmp_path / "t"),
                     script=("-m", "ganorama", "texture"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert image_size(tmp_path / "t" / "0.png") == (96, 96)  # 6 steps of 16 px
    metadata = json.loads((tmp_path / "t" / "0.json").read_text())
    assert metadata["kind"] == "texture" and metadata["request"]["size"] == 100
    assert (metadata["rows"], metadata["cols"], metadata["wrap"]) == (6, 6, "xy")


BAD_VALUES = [
    (("--rows", "0"), "--rows"),
    (("--overlap", "1.0"), "--overlap: 1.0 is out of range"),
    (("--overlap", "0.3"), "8x8 feature grid of block 2"),
    (("--overlap", "0.0625"), "allowed for this model: 0, 0.125, 0.25"),
    (("--wrap", "q"), "--wrap"),
    (("--wrap", "xy", "--overlap", "0"), "needs --overlap > 0"),
    (("--morph", "--class_names", "orange"), "--morph needs two or more classes"),
    (("--class_names", "orangr"), "orange"),
    (("--start_layer", "3", "--end_layer", "99"), "--end_layer 99 is invalid; this model has 7 blocks"),
]


@pytest.mark.parametrize("script", [MODULE, SHIM], ids=["module", "shim"])
@pytest.mark.parametrize("arguments,expected", BAD_VALUES)
def test_bad_values_exit_2_with_one_line_and_no_traceback(tmp_path, tiny_checkpoint, script, arguments, expected):
    result = run_cli("--weights", str(tiny_checkpoint), "-o", str(tmp_path), *arguments, script=script)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("arguments,expected", [(("--size", "0"), "--size"), (("--overlap", "0"), "needs --overlap > 0"),
                                                (("--overlap", "0.3"), "8x8 feature grid")])  # fmt: skip
def test_texture_bad_values_exit_2(tmp_path, tiny_checkpoint, arguments, expected):
    result = run_cli("--weights", str(tiny_checkpoint), "-o", str(tmp_path), *arguments,
                     script=("-m", "ganorama", "texture"))  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr


def test_help_shows_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--morph" in result.stdout and "--wrap" in result.stdout
