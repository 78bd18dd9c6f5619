"""Turntable: frame count and size, turning, globe orientation, GIF/MP4 output."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.export.turntable import BACKGROUND, render_turntable, save_turntable

H, W = 32, 64


def hemisphere_panorama() -> torch.Tensor:
    """Red where lon > 0 (east, the right half of the image), green where lon < 0,
    and a blue band round the back (|lon| > 135 degrees)."""
    lon, _ = geometry.equirect_lonlat(H, W)
    panorama = torch.zeros(3, H, W)
    panorama[0] = (lon > 0).float()
    panorama[1] = (lon < 0).float()
    panorama[:, lon.abs() > 2.356] = torch.tensor([0.0, 0.0, 1.0])[:, None]
    return panorama


def test_frames_have_the_requested_count_and_size_and_differ():
    frames = render_turntable(hemisphere_panorama(), frames=4, size=24, progress=False)
    assert len(frames) == 4
    for frame in frames:
        assert frame.shape == (3, 24, 24) and frame.dtype == torch.float32
        assert frame.min() >= 0 and frame.max() <= 1
        assert torch.allclose(frame[:, 0, 0], torch.full((3,), BACKGROUND))  # corner: background
    for a in range(4):
        for b in range(a + 1, 4):
            assert (frames[a] - frames[b]).abs().mean() > 0.01


def test_globe_is_seen_from_outside_unmirrored_and_turns_like_the_earth():
    frames = render_turntable(hemisphere_panorama(), frames=4, size=32, elevation=0, progress=False, supersample=1)
    first = frames[0]
    left, right = first[:, 16, 6], first[:, 16, 25]
    # Frame 0 faces the panorama's centre: east (red, the image's right half) on the right.
    assert right[0] > 0.2 and right[1] == 0 and left[1] > 0.2 and left[0] == 0
    # A quarter turn later the near side shows what was on the left (west, green), the
    # surface having moved from left to right; half a turn later, the back (blue).
    quarter, half = frames[1][:, 16, 16], frames[2][:, 16, 16]
    assert quarter[1] > 0.2 and quarter[0] == 0
    assert half[2] > 0.2 and half[0] == 0 and half[1] == 0


def test_displacement_changes_the_silhouette():
    panorama = torch.zeros(3, H, W)
    panorama[:, :, : W // 2] = 1.0  # western half bright: bulges
    flat = render_turntable(panorama, frames=1, size=32, progress=False)[0]
    bumpy = render_turntable(panorama, frames=1, size=32, displace=0.4, progress=False)[0]
    background = torch.full((3,), BACKGROUND)
    covered_flat = ~torch.isclose(flat, background[:, None, None]).all(0)
    covered_bumpy = ~torch.isclose(bumpy, background[:, None, None]).all(0)
    # The flat globe is symmetric; on the bumpy one the bright west (left, frame 0)
    # bulges out and the dark east sinks in, so the left half covers more pixels.
    assert covered_flat[:, :16].sum() == covered_flat[:, 16:].sum()
    assert covered_bumpy[:, :16].sum() > covered_bumpy[:, 16:].sum() * 1.2


def test_bad_arguments():
    with pytest.raises(UsageError, match="displace"):
        render_turntable(hemisphere_panorama(), frames=1, size=8, displace=3, progress=False)
    with pytest.raises(UsageError, match="2:1"):
        render_turntable(torch.rand(3, 8, 8), frames=1, size=8, progress=False)
    with pytest.raises(UsageError, match="elevation"):
        render_turntable(hemisphere_panorama(), frames=1, size=8, elevation=90, progress=False)


def test_gif_has_all_frames_and_loops(tmp_path):
    frames = render_turntable(hemisphere_panorama(), frames=5, size=16, progress=False)
    path = save_turntable(frames, tmp_path / "spin.gif", fps=10)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.size == (16, 16)
        assert gif.n_frames == 5
        assert gif.info.get("loop") == 0
        assert gif.info.get("duration") == 100
    with pytest.raises(UsageError, match="already exists"):
        save_turntable(frames, path)
    with pytest.raises(UsageError, match=r"\.gif or \.mp4"):
        save_turntable(frames, tmp_path / "spin.webm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spin.gif"]


def test_mp4_needs_the_video_extra(tmp_path):
    frames = [torch.rand(3, 16, 16) for _ in range(3)]
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match=r"pip install ganorama\[video\]"):
            save_turntable(frames, tmp_path / "spin.mp4")
        assert not (tmp_path / "spin.mp4").exists()
    else:
        path = save_turntable(frames, tmp_path / "spin.mp4")
        assert path.stat().st_size > 0 and b"ftyp" in path.read_bytes()[:64]
