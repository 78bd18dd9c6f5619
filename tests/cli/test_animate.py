"""``ganorama animate`` end to end on a random-weight test fixture, read back by the real
ffprobe/ffmpeg."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganorama.export.spherical import read_spherical_metadata

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe (installed by .ci/run)")

SIZE = ("--panorama_width", "256", "--panorama_height", "128")
DONE_WHEN = ("animate", "--class_names", "valley|sandbar", "--seed", "3", "--frames", "8", "--fps", "8", "--loop",
             *SIZE)  # fmt: skip
GSPHERICAL = "{http://ns.google.com/videos/1.0/spherical/}"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)  # fmt: skip


def ffprobe(path: Path, *args: str) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return json.loads(done.stdout)


def frames_of(directory: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(path), dtype=np.float64) / 255 for path in sorted(directory.glob("[0-9]*.png"))]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@pytest.fixture(scope="module")
def rendered(small_checkpoint, tmp_path_factory):
    """The issue's 'done when' command, once, with the frames kept."""
    directory = tmp_path_factory.mktemp("animate")
    done = run_cli(*DONE_WHEN, "--weights", str(small_checkpoint), "-o", "v.mp4", "--frames_dir", "frames",
                   cwd=directory)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (directory / "stderr.txt").write_text(done.stderr)
    return directory


def test_the_time_is_estimated_before_loading_and_measured_once_frames_are_made(rendered):
    lines = (rendered / "stderr.txt").read_text().splitlines()
    estimate = next(index for index, line in enumerate(lines) if "for 8 frames on this CPU" in line)
    measured = next(index for index, line in enumerate(lines) if "a frame; about" in line)
    assert estimate < measured
    assert lines[measured].endswith("for the other 6")  # the first two frames timed, six to go


def test_the_estimate_comes_before_the_model_loads(small_checkpoint, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(small_checkpoint / "config.json", broken / "config.json")
    (broken / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    done = run_cli(*DONE_WHEN, "--weights", str(broken), "-o", "v.mp4", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert "about" in lines[0] and "for 8 frames" in lines[0]
    assert "checkpoint" in lines[-1] or "pytorch_model.bin" in lines[-1]
    assert not (tmp_path / "v.mp4").exists()


def test_ffprobe_reads_an_equirectangular_spherical_h264_video_with_every_frame(rendered):
    probe = ffprobe(rendered / "v.mp4", "-count_frames", "-select_streams", "v", "-show_streams")
    (stream,) = probe["streams"]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert (stream["width"], stream["height"]) == (256, 128)
    assert stream["r_frame_rate"] == "8/1" and int(stream["nb_read_frames"]) == 8
    side_data = {item["side_data_type"]: item for item in stream["side_data_list"]}
    assert side_data["Spherical Mapping"]["projection"] == "equirectangular"
    assert side_data["Stereo 3D"]["type"] == "2D"


def test_the_v1_xml_in_the_video_track_parses_as_an_equirectangular_spherical_video(rendered):
    metadata = read_spherical_metadata(rendered / "v.mp4")
    root = ElementTree.fromstring(metadata["v1_xml"])
    assert root.findtext(f"{GSPHERICAL}Spherical") == "true"
    assert root.findtext(f"{GSPHERICAL}ProjectionType") == "equirectangular"
    assert metadata["v2"]["projection"] == "equirectangular" and metadata["v2"]["stereo_mode"] == 0


def test_a_360_unaware_decoder_decodes_every_frame(rendered):
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(rendered / "v.mp4"), "-f", "rawvideo", "-pix_fmt", "rgb24",
                           "-"], capture_output=True, check=True)  # fmt: skip
    assert done.stderr == b"" and len(done.stdout) == 8 * 256 * 128 * 3


def decoded(video: Path) -> np.ndarray:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, check=True)  # fmt: skip
    return np.frombuffer(done.stdout, dtype=np.uint8).astype(np.float64) / 255


def test_reproduce_makes_the_video_again_from_its_sidecar(rendered, tmp_path):
    # The sidecar names the weights, the walk and the request: nothing else is given.
    done = run_cli("reproduce", str(rendered / "v.json"), "-o", "again.mp4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["again.mp4", "again.json"]
    original, again = decoded(rendered / "v.mp4"), decoded(tmp_path / "again.mp4")
    assert original.shape == again.shape == (8 * 256 * 128 * 3,)
    assert np.abs(original - again).mean() < 0.5 / 255  # the same frames, through a lossy encoder twice
    recorded = json.loads((rendered / "v.json").read_text())
    remade = json.loads((tmp_path / "again.json").read_text())
    assert remade["walk"] == recorded["walk"] and remade["request"] == recorded["request"]
    refused = run_cli("reproduce", str(rendered / "v.json"), "-o", "again.mp4", cwd=tmp_path)
    assert refused.returncode == 2 and "already exists" in refused.stderr
    wrong = run_cli("reproduce", str(rendered / "v.json"), "-o", "x.mp4", "--format", "jpg", cwd=tmp_path)
    assert wrong.returncode == 2 and "--format jpg does not apply to a video" in wrong.stderr


def test_the_same_command_again_refuses_to_replace_the_video(rendered, small_checkpoint):
    before = (rendered / "v.mp4").read_bytes()
    again = run_cli(*DONE_WHEN, "--weights", str(small_checkpoint), "-o", "v.mp4", cwd=rendered)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert (rendered / "v.mp4").read_bytes() == before


def test_frames_on_keyframes_equal_the_panoramas_of_those_classes_and_seeds(rendered, small_checkpoint, tmp_path):
    # 8 looped frames through 2 keyframes: frame 0 is valley seed 3, frame 4 sandbar seed 4.
    frames = frames_of(rendered / "frames")
    for frame, classes, seed in ((0, "valley", "3"), (4, "sandbar", "4")):
        done = run_cli("panorama", "--class_names", classes, "--seed", seed, *SIZE, "--weights", str(small_checkpoint),
                       "-o", str(tmp_path / f"{frame}.png"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        panorama = np.asarray(Image.open(tmp_path / f"{frame}.png"), dtype=np.float64) / 255
        assert np.abs(frames[frame] - panorama).max() <= 1 / 255 + 1e-9  # at most one step of 8-bit rounding


def test_the_looped_video_closes_without_a_jump(rendered):
    frames = frames_of(rendered / "frames")
    consecutive = [mean_difference(a, b) for a, b in zip(frames, frames[1:])]
    closing = mean_difference(frames[-1], frames[0])
    assert min(consecutive) * 0.5 <= closing <= 1.5 * max(consecutive)


def test_the_sidecar_records_the_walk_and_the_request_of_every_frame(rendered):
    sidecar = json.loads((rendered / "v.json").read_text())
    assert sidecar["kind"] == "animation" and (sidecar["width"], sidecar["height"]) == (256, 128)
    walk = sidecar["walk"]
    assert walk["keyframes"] == [{"classes": "valley", "seed": 3}, {"classes": "sandbar", "seed": 4}]
    assert (walk["frames"], walk["fps"], walk["loop"]) == (8, 8.0, True)
    assert sidecar["request"]["panorama_width"] == 256 and isinstance(sidecar["request"]["max_views"], int)


@pytest.mark.parametrize("flags, named", [
    (("--fps", "0"), "fps 0.0"),
    (("--frames", "10000000"), "frames 10000000"),
    (("--class_names", "valley", "--loop"), "2 or more keyframes"),
    (("--panorama_width", "258", "--panorama_height", "129"), "even sides"),
    (("--frames", "4", "--seconds", "2"), "not both"),
])  # fmt: skip
def test_bad_values_are_one_line_and_exit_2_before_the_model_loads(flags, named, small_checkpoint, tmp_path):
    # A checkpoint whose config is right but whose weights are garbage: loading it would fail otherwise.
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(Path(small_checkpoint) / "config.json", broken / "config.json")
    (broken / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    base = {"--class_names": "valley|sandbar", "--seed": "3", "--frames": "8", "--fps": "8"}
    given = dict(zip(flags[::2], flags[1::2])) if "--loop" not in flags else {"--class_names": "valley"}
    args = [item for name, value in {**base, **given}.items() for item in (name, value)]
    if "--seconds" in given:
        args = [item for item in args if item]
    if "--loop" in flags:
        args.append("--loop")
    if "--panorama_width" not in given:
        args += list(SIZE)
    done = run_cli("animate", *args, "--weights", str(broken), "-o", str(tmp_path / "v.mp4"))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and named in done.stderr, done.stderr
    assert not (tmp_path / "v.mp4").exists()


def test_a_killed_render_resumes_from_its_frames_and_leaves_nothing_half_written(small_checkpoint, tmp_path):
    command = [sys.executable, "-m", "ganorama", "animate", "--class_names", "valley|sandbar", "--seed", "3",
               "--frames", "24", "--fps", "8", "--loop", *SIZE, "--weights", str(small_checkpoint),
               "-o", "v.mp4", "--frames_dir", "frames"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "frames").glob("0*.png"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = sorted(path.name for path in (tmp_path / "frames").glob("0*.png"))
    assert 3 <= len(kept) < 24 and not (tmp_path / "v.mp4").exists()

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    names = sorted(path.name for path in (tmp_path / "frames").iterdir())
    assert names == [f"{index:06d}.png" for index in range(24)] + ["walk.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames", "v.json", "v.mp4"]
    probe = ffprobe(tmp_path / "v.mp4", "-count_frames", "-select_streams", "v", "-show_streams")
    assert int(probe["streams"][0]["nb_read_frames"]) == 24


def test_frames_dir_of_another_walk_is_refused(rendered, small_checkpoint, tmp_path):
    done = run_cli("animate", "--class_names", "valley|coral reef", "--seed", "3", "--frames", "8", "--fps", "8", *SIZE,
                   "--weights", str(small_checkpoint), "-o", str(tmp_path / "w.mp4"), "--frames_dir",
                   str(rendered / "frames"))  # fmt: skip
    assert done.returncode == 2 and "another walk" in done.stderr


@pytest.mark.parametrize("text, extra, named", [
    ('[{"classes": "valley", "seed": 3, "truncation": 1.5}, {"seed": 4}]', (), "keyframe 0 truncation 1.5"),
    ('[{"classes": "valley", "seed": 3}, {"classes": "no such class"}]', (), "no such class"),
    ('[{"seed": 3}, {"seed": 4}]', ("--class_names", "valley"), "not both"),
])  # fmt: skip
def test_a_bad_keyframes_file_is_one_line_before_the_model_loads(text, extra, named, small_checkpoint, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(Path(small_checkpoint) / "config.json", broken / "config.json")
    (broken / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    keys = tmp_path / "keys.json"
    keys.write_text(text)
    done = run_cli("animate", "--keyframes", str(keys), *extra, "--frames", "4", *SIZE, "--weights", str(broken),
                   "-o", str(tmp_path / "v.mp4"))  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and named in done.stderr, done.stderr
    assert not (tmp_path / "v.mp4").exists()


def test_a_keyframes_file_walks_through_its_truncations_and_records_them(tiny_checkpoint, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"classes": "valley", "seed": 3, "truncation": 0.3},
                                {"classes": "sandbar", "z_mul": 1.5, "truncation": 0.9}]))  # fmt: skip
    done = run_cli("animate", "--keyframes", str(keys), "--seed", "7", "--frames", "4", "--fps", "4",
                   "--panorama_width", "64", "--panorama_height", "32", "--weights", str(tiny_checkpoint),
                   "-o", str(tmp_path / "v.mp4"), "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    walk = json.loads((tmp_path / "v.json").read_text())["walk"]
    assert walk["keyframes"] == [{"classes": "valley", "seed": 3, "truncation": 0.3},
                                 {"classes": "sandbar", "seed": 8, "z_mul": 1.5, "truncation": 0.9}]  # fmt: skip
    probe = ffprobe(tmp_path / "v.mp4", "-count_frames", "-select_streams", "v", "-show_streams")
    assert probe["streams"][0]["nb_read_frames"] == "4"
