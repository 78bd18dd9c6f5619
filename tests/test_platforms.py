"""Sharing platforms' limits for 360 photos: one line when a size breaks one, none otherwise."""
from __future__ import annotations

from ganorama.platforms import broken_limits, sharing_warning


def test_sizes_every_platform_takes_get_no_warning():
    assert sharing_warning(2000, 1000) is None
    assert sharing_warning(16384, 8192) is None  # 134 MP: just under both


def test_facebooks_side_and_pixel_limits_and_google_photos_pixel_limit_are_named_in_one_line():
    assert broken_limits(17000, 8500) == ["Facebook (at most 135 MP)"]  # 144.5 MP
    assert broken_limits(30000, 15000) == ["Facebook (sides under 30,000 px and at most 135 MP)",
                                           "Google Photos (at most 150 MP)"]  # fmt: skip
    line = sharing_warning(30000, 15000)
    assert "\n" not in line and line.startswith("note: a 30000x15000 panorama (450 MP) is too large")
    assert "--panorama_width" in line


def test_the_panorama_command_says_so_on_stderr_before_generating(capsys, tmp_path, monkeypatch, tiny_checkpoint):
    import ganorama.platforms as platforms
    from ganorama.cli import main

    monkeypatch.setattr(platforms, "SHARING_LIMITS", (platforms.SharingLimit("Tiny", None, 999, "test"),))
    status = main(["panorama", "--weights", str(tiny_checkpoint), "--panorama_width", "64", "-o", str(tmp_path / "o"),
                   "--quiet"])  # fmt: skip
    assert status == 0 and capsys.readouterr().err == ""  # --quiet: nothing but errors
    status = main(["panorama", "--weights", str(tiny_checkpoint), "--panorama_width", "64", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 0
    assert "note: a 64x32 panorama (0.00205 MP) is too large to share as a 360 photo on Tiny (at most 0.001 MP)" in err
