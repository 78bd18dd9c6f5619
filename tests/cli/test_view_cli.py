"""``ganorama view``: the HTML viewer from the command line, and its one-line errors."""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from PIL import Image

from ganorama.cli import main


def make_pano(path, size=(64, 32), fmt=None):
    Image.new("RGB", size, (30, 120, 200)).save(path, format=fmt)
    return path


def run_cli(capsys, *argv):
    status = main(["view", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_usage_error(status, err, *fragments):
    assert status == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ganorama view: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_writes_the_named_output(capsys, tmp_path):
    pano = make_pano(tmp_path / "pano.png")
    out = tmp_path / "sub" / "viewer.html"
    status, stdout, err = run_cli(capsys, pano, "-o", out, "--title", "Beach")
    assert status == 0, err
    assert stdout.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert "<title>Beach</title>" in page
    assert base64.b64encode(pano.read_bytes()).decode() in page


def test_default_output_is_beside_the_panorama(capsys, tmp_path):
    pano = make_pano(tmp_path / "beach.jpg", fmt="JPEG")
    status, stdout, err = run_cli(capsys, pano)
    assert status == 0, err
    assert stdout.strip() == str(tmp_path / "beach.html")
    assert "data:image/jpeg;base64," in (tmp_path / "beach.html").read_text()


def test_missing_file(capsys, tmp_path):
    status, stdout, err = run_cli(capsys, tmp_path / "nope.png")
    assert_one_line_usage_error(status, err, "nope.png", "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [(64, 64), (100, 40), (63, 32)])
def test_not_two_to_one(capsys, tmp_path, size):
    pano = make_pano(tmp_path / "pano.png", size=size)
    status, stdout, err = run_cli(capsys, pano)
    assert_one_line_usage_error(status, err, f"{size[0]}x{size[1]}", "2:1")
    assert not (tmp_path / "pano.html").exists()


def test_not_an_image(capsys, tmp_path):
    fake = tmp_path / "pano.png"
    fake.write_text("hello")
    status, stdout, err = run_cli(capsys, fake)
    assert_one_line_usage_error(status, err, "PNG or JPEG")


def test_other_image_format(capsys, tmp_path):
    pano = make_pano(tmp_path / "pano.gif", fmt="GIF")
    status, stdout, err = run_cli(capsys, pano)
    assert_one_line_usage_error(status, err, "GIF")


def test_existing_output_is_never_replaced(capsys, tmp_path):
    pano = make_pano(tmp_path / "pano.png")
    existing = tmp_path / "pano.html"
    existing.write_text("keep me")
    status, stdout, err = run_cli(capsys, pano)
    assert_one_line_usage_error(status, err, "already exists")
    assert existing.read_text() == "keep me"
    other = tmp_path / "other.html"
    other.write_text("me too")
    status, stdout, err = run_cli(capsys, pano, "-o", other)
    assert_one_line_usage_error(status, err, "already exists")
    assert other.read_text() == "me too"


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["view", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--output" in out and "PANO" in out


def test_real_process_exit_status_and_stderr(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ganorama", "view", str(tmp_path / "missing.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"ganorama view: error: {tmp_path / 'missing.png'} does not exist"]


@pytest.mark.parametrize("output, fragment", [("x.png", "must end in .html or .htm"),
                                              ("/proc/x.html", "cannot create files in /proc")])  # fmt: skip
def test_bad_output_is_refused_before_the_panorama_is_read(capsys, tmp_path, output, fragment):
    status, stdout, err = run_cli(capsys, tmp_path / "missing.png", "-o", output)
    assert_one_line_usage_error(status, err, fragment)
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_unreadable_image_message_names_the_file_not_a_buffer(capsys, tmp_path):
    fake = tmp_path / "pano.png"
    fake.write_text("hello")
    status, stdout, err = run_cli(capsys, fake)
    assert_one_line_usage_error(status, err, str(fake))
    assert "object at 0x" not in err and "BytesIO" not in err


def test_a_360_video_gets_a_viewer_beside_it(capsys, tmp_path):
    from ganorama.export.animation import encode_360_video

    video = encode_360_video((Image.new("RGB", (64, 32), (200, 40, 40)) for _ in range(3)), tmp_path / "v.mp4", 3)
    status, stdout, err = run_cli(capsys, video)
    assert status == 0, err
    assert stdout.strip() == str(tmp_path / "v.html")
    page = (tmp_path / "v.html").read_text()
    assert '<video id="panorama"' in page and base64.b64encode(video.read_bytes()).decode() in page
    status, _, err = run_cli(capsys, video)
    assert_one_line_usage_error(status, err, "already exists")
