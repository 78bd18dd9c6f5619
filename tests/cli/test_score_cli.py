"""``ganorama score``: a table or JSON of every panorama's scores, and one-line errors."""
from __future__ import annotations

import json

import torch

from ganorama.cli import main
from ganorama.export.io import tensor_to_image


def save(tensor: torch.Tensor, path):
    tensor_to_image(tensor).save(path)
    return path


def smooth_and_seamed(tmp_path):
    lon = torch.linspace(0, 2 * torch.pi, 129)[:-1]
    smooth = (0.5 + 0.3 * torch.sin(lon)).expand(3, 64, -1)
    ramp = torch.linspace(0.1, 0.9, 128).expand(3, 64, -1)
    return save(smooth, tmp_path / "smooth.png"), save(ramp, tmp_path / "seam.png")


def test_prints_one_row_per_panorama_with_the_seam_far_above(capsys, tmp_path):
    smooth, seam = smooth_and_seamed(tmp_path)
    assert main(["score", str(smooth), str(seam)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["panorama", "discontinuity_score", "wrap_step", "pole_spread"]
    rows = {line.split()[0]: [float(value) for value in line.split()[1:]] for line in lines[1:]}
    assert rows[str(seam)][0] > 4 * rows[str(smooth)][0]
    assert rows[str(seam)][1] > 10 * rows[str(smooth)][1]


def test_json_goes_to_a_new_file_and_is_never_replaced(capsys, tmp_path):
    smooth, _ = smooth_and_seamed(tmp_path)
    out = tmp_path / "scores.json"
    assert main(["score", str(smooth), "--json", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    (row,) = json.loads(out.read_text())["panoramas"]
    assert row["panorama"] == str(smooth) and set(row) >= {"discontinuity_score", "wrap_step", "pole_spread"}
    before = out.read_text()
    assert main(["score", str(smooth), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ganorama score: error: {out} already exists; choose another output name"
    assert out.read_text() == before


def test_json_to_standard_output(capsys, tmp_path):
    smooth, seam = smooth_and_seamed(tmp_path)
    assert main(["score", str(smooth), str(seam), "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out)["panoramas"]
    assert [row["panorama"] for row in rows] == [str(smooth), str(seam)]


def test_a_missing_or_non_panorama_file_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["score", str(tmp_path / "nope.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ganorama score: error: {tmp_path / 'nope.png'} does not exist"]
    square = save(torch.zeros(3, 32, 32), tmp_path / "square.png")
    assert main(["score", str(square)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "must be exactly twice as wide as it is tall" in line
