"""Turntable: frame count and size, turning, globe orientation, agreement with a plain
renderer, streaming GIF/MP4 output, refusals before any work."""
from __future__ import annotations

import io
import itertools
import math
import sys
import types

import pytest
import torch
from PIL import Image, ImageSequence

from ganorama import geometry
from ganorama.errors import GanoramaError, UsageError
from ganorama.export.io import image_to_tensor
from ganorama.export.turntable import (BACKGROUND, TurntableOptions, iter_turntable, render_turntable, save_turntable,
                                       write_turntable)  # fmt: skip

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
        with pytest.raises(UsageError, match=r"pip install \"ganorama\[video\]\""):
            save_turntable(frames, tmp_path / "spin.mp4")
        assert not (tmp_path / "spin.mp4").exists()
    else:
        path = save_turntable(frames, tmp_path / "spin.mp4")
        assert path.stat().st_size > 0 and b"ftyp" in path.read_bytes()[:64]


# --------------------------------------------------------------------------------------
# The fast renderer against a plain one, written the straightforward way
# --------------------------------------------------------------------------------------
def smooth_panorama(height: int = H, width: int = W) -> torch.Tensor:
    """Colour and brightness that vary smoothly and wrap in longitude."""
    lon, lat = geometry.equirect_lonlat(height, width)
    return torch.stack((0.5 + 0.4 * torch.sin(2 * lon) * torch.cos(lat),
                        0.5 + 0.4 * torch.sin(3 * lat),
                        0.5 + 0.3 * torch.cos(lon + lat)))  # fmt: skip


def reference_frame(panorama: torch.Tensor, size: int, angle: float, displace: float, elevation: float = 15.0,
                    fov: float = 30.0, steps: int = 400) -> torch.Tensor:  # fmt: skip
    """One frame (3, size, size), no supersampling: rays turned by -angle into the globe's
    frame, a dense march and bisection to the surface |p| = displacement_radius(p),
    normals by central differences of that radius."""
    from ganorama.export import globe_render as tt
    from ganorama.export.io import sample_equirect
    from ganorama.export.mesh import displacement_radius

    flip = torch.tensor((1.0, -1.0, 1.0))  # globe frame <-> world frame
    outer = 1 + abs(displace) / 2
    origin, rays = tt._camera_rays(size, elevation, fov, outer / math.sin(0.9 * math.radians(fov) / 2), "cpu")
    c, s = math.cos(-angle), math.sin(-angle)
    turn = torch.tensor(((c, 0.0, s), (0.0, 1.0, 0.0), (-s, 0.0, c)))  # about +y, +z towards +x
    origin, rays = turn @ origin, rays.reshape(-1, 3) @ turn.T

    def radius(points):
        return displacement_radius(panorama, points * flip, displace) if displace else points.new_ones(len(points))

    b = rays @ origin
    disc = b * b - (origin @ origin - outer * outer)
    hit = disc >= 0
    t0 = -b - disc.clamp_min(0).sqrt()
    t1 = -b + disc.clamp_min(0).sqrt()
    ts = t0[:, None] + (t1 - t0)[:, None] * torch.linspace(0, 1, steps)  # (P, steps)
    points = origin + ts[..., None] * rays[:, None]
    inside = (points.norm(dim=-1) <= radius(points.reshape(-1, 3)).reshape(ts.shape)) & hit[:, None]
    found = inside.any(1)
    first = inside.float().argmax(1)
    low, high = ts.gather(1, (first - 1).clamp_min(0)[:, None])[:, 0], ts.gather(1, first[:, None])[:, 0]
    for _ in range(20):
        middle = (low + high) / 2
        is_inside = (origin + middle[:, None] * rays).norm(dim=-1) <= radius(origin + middle[:, None] * rays)
        low, high = torch.where(is_inside, low, middle), torch.where(is_inside, middle, high)
    direction = torch.nn.functional.normalize(origin + high[:, None] * rays, dim=-1)
    lon, lat = geometry.direction_to_lonlat(direction * flip)
    east = torch.stack((lon.cos(), torch.zeros_like(lon), -lon.sin()), -1)
    north = torch.stack((-lat.sin() * lon.sin(), lat.cos(), -lat.sin() * lon.cos()), -1)
    epsilon = math.pi / panorama.shape[-2]
    normal = direction
    if displace:
        r0 = radius(direction)
        gradient = sum(
            ((radius(direction + epsilon * axis) - radius(direction - epsilon * axis)) / (2 * epsilon))[:, None] * axis
            for axis in (east, north)
        )
        normal = torch.nn.functional.normalize(direction - gradient / r0[:, None], dim=-1)
    light = torch.nn.functional.normalize(torch.tensor(tt.LIGHT), dim=0) @ turn.T
    shade = tt.AMBIENT + (1 - tt.AMBIENT) * (normal @ light).clamp_min(0)
    colour = (sample_equirect(panorama, direction * flip) * shade).clamp(0, 1)
    image = torch.where(found, colour, torch.full_like(colour, BACKGROUND))
    return image.reshape(3, size, size)


@pytest.mark.parametrize("displace", [0.0, 0.3, -0.3])
def test_fast_renderer_agrees_with_the_plain_reference(displace):
    panorama = smooth_panorama(64, 128)
    frames = render_turntable(panorama, frames=4, size=48, displace=displace, supersample=1, progress=False)
    for index in (0, 1, 2):
        fast, reference = frames[index], reference_frame(panorama, 48, 2 * math.pi * index / 4, displace)
        background = torch.full((3, 1, 1), BACKGROUND)
        covered_fast = ~torch.isclose(fast, background, atol=1e-4).all(0)
        covered_reference = ~torch.isclose(reference, background, atol=1e-4).all(0)
        # The silhouettes agree up to a pixel here and there along the rim.
        assert (covered_fast != covered_reference).float().mean() < 0.005
        both = covered_fast & covered_reference
        difference = (fast - reference).abs().amax(0)[both]
        assert both.sum() > 800
        assert difference.median() < 1e-3, difference.median()
        assert torch.quantile(difference, 0.98) < 0.01, torch.quantile(difference, 0.98)


def test_reference_check_has_teeth():
    """Mirroring the turn or dropping the displacement breaks the comparison above."""
    panorama = smooth_panorama(64, 128)
    fast = render_turntable(panorama, frames=4, size=48, displace=0.3, supersample=1, progress=False)[1]
    wrong_way = reference_frame(panorama, 48, -math.pi / 2, 0.3)
    flat = reference_frame(panorama, 48, math.pi / 2, 0.0)
    globe = ~torch.isclose(fast, torch.full((3, 1, 1), BACKGROUND), atol=1e-4).all(0)
    assert (fast - reference_frame(panorama, 48, math.pi / 2, 0.3)).abs().amax(0)[globe].median() < 1e-3
    for wrong in (wrong_way, flat):
        assert (fast - wrong).abs().amax(0)[globe].median() > 0.02


# --------------------------------------------------------------------------------------
# Streaming, files, refusals
# --------------------------------------------------------------------------------------
def test_iter_turntable_checks_now_and_renders_lazily():
    with pytest.raises(UsageError, match="frames 0"):
        iter_turntable(hemisphere_panorama(), frames=0)
    # 3600 frames requested, two taken: only those two are rendered.
    stream = iter_turntable(hemisphere_panorama(), frames=3600, size=8)
    first, second = itertools.islice(stream, 2)
    assert first.shape == second.shape == (3, 8, 8)


def test_frames_are_written_as_they_arrive(tmp_path):
    sizes = []

    def frames():
        for index in range(4):
            parts = list(tmp_path.glob(".spin.gif.*"))  # atomic_path's temporary file
            sizes.append(parts[0].stat().st_size if parts else None)
            yield torch.full((3, 16, 16), index / 4)

    save_turntable(frames(), tmp_path / "spin.gif")
    # Frame 0 is taken before the file opens; each later frame finds the earlier ones written.
    assert sizes[0] is None and 0 < sizes[1] < sizes[2] < sizes[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spin.gif"]


def test_a_failure_part_way_leaves_no_file(tmp_path):
    def frames():
        yield torch.rand(3, 16, 16)
        yield torch.rand(3, 16, 16)
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError, match="renderer failed"):
        save_turntable(frames(), tmp_path / "spin.gif")
    assert list(tmp_path.iterdir()) == []


def test_write_turntable_gif_with_one_palette(tmp_path):
    panorama = smooth_panorama()
    path = write_turntable(panorama, tmp_path / "spin.gif", frames=6, size=32, fps=20, displace=0.1, progress=False)
    expected = render_turntable(panorama, frames=6, size=32, displace=0.1, progress=False)
    with Image.open(path) as gif:
        assert (gif.n_frames, gif.size, gif.info.get("loop"), gif.info.get("duration")) == (6, (32, 32), 0, 50)
        for index, frame in enumerate(ImageSequence.Iterator(gif)):
            decoded = image_to_tensor(frame.convert("RGB"))
            # Dithered: each pixel a little further off (0.032), the colours right on average (no bands).
            assert (decoded - expected[index]).abs().mean() < 0.036, index



@pytest.mark.parametrize("fps", [12, 24, 7.5])
def test_gif_delays_alternate_so_the_average_rate_is_exact(tmp_path, fps):
    frames = [torch.full((3, 8, 8), 0.5)] * 24
    path = save_turntable(frames, tmp_path / "spin.gif", fps=fps)
    with Image.open(path) as gif:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert len(durations) == 24 and all(duration % 10 == 0 for duration in durations)  # centiseconds
    assert abs(sum(durations) - 24 * 1000 / fps) <= 5, durations  # 12 fps: 2000 ms, not 24 x 80 (12.5 fps)


def test_gif_frames_are_dithered_so_smooth_gradients_do_not_band(tmp_path):
    """A gradient with more colours than a palette holds: averaged over 4x4 pixels (as an
    eye sees it) the dithered frame follows the gradient, where plain mapping to the
    nearest palette colour leaves flat bands (5.9 levels of 255 off, measured)."""
    import torch.nn.functional as F

    from ganorama.export.turntable import turntable_palette

    y, x = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    frame = torch.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.5 + 0.3 * (x - y)]).clamp(0, 1)
    palette = turntable_palette(torch.cat([frame, frame], dim=2))
    path = save_turntable([frame], tmp_path / "gradient.gif", palette=palette)
    with Image.open(path) as gif:
        decoded = image_to_tensor(gif.convert("RGB"))
    seen = F.avg_pool2d(decoded[None], 4) - F.avg_pool2d(frame[None], 4)
    assert seen.abs().mean() * 255 < 4.5

def test_mp4_frames_size_and_content(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    panorama = smooth_panorama()
    path = write_turntable(panorama, tmp_path / "spin.mp4", frames=7, size=32, fps=10, progress=False)
    expected = render_turntable(panorama, frames=7, size=32, progress=False)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert tuple(meta["size"]) == (32, 32) and meta["fps"] == pytest.approx(10)
    decoded = [torch.frombuffer(bytearray(frame), dtype=torch.uint8).reshape(32, 32, 3) for frame in reader]
    assert len(decoded) == 7
    for index, frame in enumerate(decoded):
        # H.264 is lossy (and 4:2:0): close on average, and closer to its own frame than to another.
        error = (frame.permute(2, 0, 1).float() / 255 - expected[index]).abs().mean()
        assert error < 0.04, (index, error)
        assert error < (frame.permute(2, 0, 1).float() / 255 - expected[(index + 3) % 7]).abs().mean()


def test_an_mp4_that_ffmpeg_did_not_finish_is_not_kept(tmp_path, monkeypatch):
    """imageio-ffmpeg does not report ffmpeg failing at the end (say, a full disk while it
    writes the index): the file is read back, and one short of frames is refused."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

    def one_frame_short(path):
        frames, seconds = imageio_ffmpeg.count_frames_and_secs(path)
        return frames - 1, seconds

    fake = types.SimpleNamespace(write_frames=imageio_ffmpeg.write_frames, count_frames_and_secs=one_frame_short)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", fake)
    with pytest.raises(GanoramaError, match="did not finish the .mp4: 3 frames sent, 2 in the file"):
        save_turntable([torch.rand(3, 16, 16) for _ in range(3)], tmp_path / "spin.mp4")
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_imageio_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    with pytest.raises(UsageError, match=r"pip install \"ganorama\[video\]\""):
        write_turntable(hemisphere_panorama(), tmp_path / "spin.mp4", frames=2, size=16, progress=False)
    with pytest.raises(UsageError, match=r"pip install \"ganorama\[video\]\""):
        save_turntable([torch.rand(3, 16, 16)], tmp_path / "spin.mp4")
    assert list(tmp_path.iterdir()) == []


def test_write_turntable_refuses_what_cannot_fit_before_any_work(tmp_path, monkeypatch):
    from ganorama import resources

    pano = tmp_path / "missing.png"  # never read: every refusal below comes first
    cases = [
        (dict(frames=10_000_000), "frames 10000000 is out of range; allowed: 1 to 3600"),
        (dict(size=70_000, supersample=1, path="big.gif"), "too large for a GIF"),
        (dict(size=33, path="odd.mp4"), "even frame size"),
        (dict(path="spin.png"), r"must end in \.gif or \.mp4"),
    ]
    for options, message in cases:
        options = {"path": "spin.gif", **options}
        with pytest.raises(UsageError, match=message):
            write_turntable(pano, tmp_path / options.pop("path"), progress=False, **options)
    (tmp_path / "taken.gif").write_text("keep")
    with pytest.raises(UsageError, match="already exists"):
        write_turntable(pano, tmp_path / "taken.gif")
    Image.new("RGB", (64, 32)).save(pano)
    too_big = r"size 60000 \(rendered at 120000\) .* needs about .* of memory; .* is available"
    with pytest.raises(UsageError, match=too_big):
        write_turntable(pano, tmp_path / "spin.gif", size=60_000)
    monkeypatch.setattr(resources, "disk_free", lambda path: 1000)
    no_room = r"3600-frame turntable of size 256 needs about .* of disk space; 1000 B is free"
    with pytest.raises(UsageError, match=no_room):
        write_turntable(pano, tmp_path / "spin.gif", frames=3600)
    monkeypatch.setattr(resources, "memory_available", lambda: 2**20)
    with pytest.raises(UsageError, match=r"needs about .* of memory; 1\.0 MiB is available"):
        write_turntable(pano, tmp_path / "spin.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["missing.png", "taken.gif"]


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    render_turntable(hemisphere_panorama(), frames=2, size=8, progress=True)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    render_turntable(hemisphere_panorama(), frames=2, size=8, progress=True)
    assert "turntable" in terminal.getvalue() and "2/2" in terminal.getvalue()
    terminal.truncate(0)
    render_turntable(hemisphere_panorama(), frames=2, size=8, progress=False)
    assert terminal.getvalue().strip("\0") == ""


def test_rendering_leaves_torch_thread_count_as_it_was():
    before = torch.get_num_threads()
    render_turntable(hemisphere_panorama(), frames=2, size=8, displace=0.2, progress=False)
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------------------
# The options as one checked value; each check once per write
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    (dict(frames=0), "frames 0 is out of range; allowed: 1 to 3600 (one turn in 0.1 degree steps)"),
    (dict(size=0), "size and supersample must be >= 1, got 0, 2"),
    (dict(supersample=0), "size and supersample must be >= 1, got 256, 0"),
    (dict(elevation=-90), "elevation -90 is out of range; allowed: -90 < elevation < 90 degrees"),
    (dict(fov=170), "fov 170 is out of range; allowed: 1 to 170 degrees"),
    (dict(displace=2), "displace 2.0 is out of range; allowed: -2 < displace < 2"),
    (dict(fps=0), "fps 0.0 is out of range; allowed: 0 < fps <= 100"),
    (dict(size=65536, supersample=1, suffix=".gif"), "size 65536 is too large for a GIF; allowed: at most 65535"),
    (dict(fps=0, frames=0, suffix=".gif"), "fps 0"),  # fps first, as before the options were one value
])
def test_turntable_options_are_checked_as_they_are_made(options, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TurntableOptions(**options)


def test_turntable_options_are_one_frozen_value():
    options = TurntableOptions(displace=1)
    assert options.displace == 1.0 and isinstance(options.displace, float)
    assert TurntableOptions(size=65536, supersample=1).size == 65536  # no format: no GIF limit
    with pytest.raises(AttributeError):
        options.frames = 0


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_write_runs_each_check_once(tmp_path, monkeypatch, suffix):
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    from ganorama import resources
    from ganorama.export import animation, paths, turntable

    calls: dict[str, int] = {}

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for module, name in ((paths, "check_output_file"), (turntable, "check_fps"), (turntable, "check_format"),
                         (turntable, "check_displace"), (turntable, "resolve_device"), (turntable, "panorama_size"),
                         (turntable, "check_turntable_memory"), (resources, "check_disk"),
                         (animation, "require_imageio_ffmpeg"), (animation, "check_fps")):  # fmt: skip
        counted(module, name)
    pano = tmp_path / "pano.png"
    Image.new("RGB", (64, 32), (90, 120, 200)).save(pano)
    write_turntable(pano, tmp_path / f"spin{suffix}", frames=2, size=16, displace=0.1, device="cpu", progress=False)
    expected = {"check_output_file": 1, "check_fps": 1, "check_format": 1, "check_displace": 1, "resolve_device": 1,
                "panorama_size": 1, "check_turntable_memory": 1, "check_disk": 1}  # fmt: skip
    if suffix == ".mp4":
        expected["require_imageio_ffmpeg"] = 1
    assert calls == expected
