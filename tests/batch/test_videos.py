"""``ganorama batch`` animate rows: checked like ``ganorama animate`` before Ray starts, then
(with Ray, 2 CPUs, the tiny random-weight fixture) made as frame ranges and encoded into
the video ``ganorama animate`` writes, resumed from the frames on disk."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganorama.batch import parse_jobs
from ganorama.cli import main
from ganorama.errors import UsageError

SMALL = {"panorama_width": 64, "panorama_height": 32}
VIDEO = {"id": "loop", "kind": "animate", "classes": "valley|sandbar", "seed": 3, "frames": 6, "fps": 6, "loop": True,
         **SMALL}  # fmt: skip
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}


def jsonl(*rows: dict) -> str:
    return "\n".join(json.dumps(row) for row in rows) + "\n"


def test_an_animate_row_is_a_walk_and_the_panorama_every_frame_shares():
    keyed = {"id": "keyed", "kind": "animate", "keyframes": [{"classes": "valley", "seed": 3, "truncation": 0.3},
                                                            {"classes": "sandbar"}],
             "seed": 10, "seconds": 2, "fps": 4, "easing": "linear", "truncation": 0.5}  # fmt: skip
    video, other = parse_jobs(jsonl(VIDEO, keyed), "jobs.jsonl")
    assert (video.walk.frames, video.walk.fps, video.walk.loop) == (6, 6.0, True)
    assert [(key.classes, key.seed) for key in video.walk.keyframes] == [("valley", 3), ("sandbar", 4)]
    assert (video.request.kind, video.request.classes, video.request.seed) == ("panorama", "valley", 3)
    assert video.file_names() == {"video": "loop.mp4", "sidecar": "loop.json", "frames": "loop.frames"}
    assert [(key.seed, key.truncation) for key in other.walk.keyframes] == [(3, 0.3), (11, None)]
    assert other.walk.frames == 8 and other.request.truncation == 0.5
    assert (other.request.panorama_width, other.request.panorama_height) == (1024, 512), "animate's default size"


def test_the_time_estimate_counts_a_video_row_frame_by_frame():
    from ganorama.batch import check_rows_with_model, rows_seconds_estimate
    from ganorama.models.config import BigGANConfig

    config = BigGANConfig.preset("biggan-deep-128")
    video, still = parse_jobs(jsonl(VIDEO, {"id": "still", "classes": "sandbar", "seed": 1, **SMALL}), "jobs.jsonl")
    plans = check_rows_with_model([video, still], config, check_memory=False)
    both = rows_seconds_estimate([video, still], plans, config)
    assert both > 0
    # One planner per call measures its own matmul rate: the two calls agree only roughly.
    assert abs(both / rows_seconds_estimate([still], plans, config) - 7) < 7 * 0.5
    assert abs(rows_seconds_estimate([video], plans, config, units=lambda row: 2) / both - 2 / 7) < 2 / 7 * 0.5


def test_csv_animate_rows_read_their_walk_fields_from_text(tmp_path):
    rows = parse_jobs("id,kind,classes,seed,frames,fps,loop,easing\nv,animate,valley|sandbar,3,4,12.5,yes,cosine\n",
                      "jobs.csv", "csv")  # fmt: skip
    walk = rows[0].walk
    assert (walk.frames, walk.fps, walk.loop, walk.easing) == (4, 12.5, True, "cosine")


@pytest.mark.parametrize("fields,expected", [
    ({"fps": 0}, "jobs.jsonl line 2: fps 0.0 is out of range; allowed: 0 < fps <="),
    ({"frames": 10**7}, "jobs.jsonl line 2: frames 10000000 is out of range; allowed: 2 to 36000"),
    ({"classes": "valley"}, "jobs.jsonl line 2: an animation needs 2 or more keyframes to walk between, got 1 (with "
                            "--loop"),
    ({"seed": None}, "jobs.jsonl line 2: an animation needs a seed"),
    ({"classes": "valley|sandbr"}, "jobs.jsonl line 2: unknown ImageNet class 'sandbr'"),
    ({"size": 64}, "jobs.jsonl line 2: unknown field size for an animate row"),
    ({"panorama_width": 66, "panorama_height": 33}, "jobs.jsonl line 2: a 360 video's frames must have even sides"),
    ({"frames": 36000, "panorama_width": 4096, "panorama_height": 2048}, "the videos' frames and files needs about"),
])  # fmt: skip
def test_a_bad_animate_row_exits_2_with_one_line_naming_its_line_before_ray(tmp_path, tiny_checkpoint, capsys, fields,
                                                                            expected):  # fmt: skip
    pytest.importorskip("ray")
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    row = {key: value for key, value in {**VIDEO, **fields}.items() if value is not None}
    jobs.write_text(jsonl({"seed": 1, **SMALL}, row))
    status = main(["batch", str(jobs), str(out), "--weights", str(tiny_checkpoint)])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(errors) == 1 and errors[0].startswith("ganorama batch: error: ") and expected in errors[0], errors
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.jsonl"]


def test_two_rows_meeting_in_one_video_name_are_refused():
    with pytest.raises(UsageError, match="output loop.json is also written by jobs.jsonl line 1"):
        parse_jobs(jsonl(VIDEO, {"id": "loop", "seed": 1}), "jobs.jsonl")


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe (installed by .ci/run)")
def test_a_video_on_a_url_is_made_range_by_range_and_encoded_there_once_every_range_is_in(tiny_checkpoint, tmp_path):
    """The worker's and the driver's parts without Ray, on fsspec's memory filesystem
    (frames listed, read and the video uploaded through the Destination)."""
    fsspec = pytest.importorskip("fsspec")
    from ganorama.batch.videos import VideoAssembly, prepare_frames
    from ganorama.batch.worker import RowStatus, process_frames
    from ganorama.destinations import Destination
    from ganorama.pipeline import Ganorama

    url = f"memory://ganorama-video-{uuid.uuid4().hex}"
    destination = Destination(url)
    video, other = parse_jobs(jsonl({**VIDEO, "frames": 4}, {**VIDEO, "id": "other", "frames": 4}), "jobs.jsonl")
    generator = Ganorama.from_pretrained(weights=str(tiny_checkpoint), device="cpu", dtype="float32")
    try:
        for row in (video, other):
            prepare_frames(destination, row)
        assembly = VideoAssembly(destination, [video, other], 2, workers=1)
        assert [(row.name, frames) for row, frames in assembly.tasks()] == [
            ("loop", range(0, 2)), ("loop", range(2, 4)), ("other", range(0, 2)), ("other", range(2, 4))]  # fmt: skip
        written = []
        first, second = (process_frames(generator, destination, video, frames, on_frame=written.append)
                         for frames in (range(0, 2), range(2, 4)))  # fmt: skip
        assert written == [0, 1, 2, 3] and first.status == "done" and first.video["made"] == 2
        assert assembly.add(first) is None and assembly.add(first) is None, "a retried task's record counts once"
        done = assembly.add(second)
        assert (done.status, done.files) == ("done", [f"{url}/loop.mp4", f"{url}/loop.json"])
        local = tmp_path / "loop.mp4"
        local.write_bytes(destination.read_bytes("loop.mp4"))
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                                "stream=nb_read_frames", "-of", "csv=p=0", str(local)], capture_output=True, text=True,
                               check=True)  # fmt: skip
        assert probe.stdout.strip().split(",")[0] == "4"
        assert json.loads(destination.read_text("loop.json"))["walk"] == video.walk.to_dict()

        assert assembly.add(RowStatus(other.index, "other", other.where, "failed", error="frames 0 to 1: boom",
                                      video={"frames": [0, 2]})) is None  # fmt: skip
        failed = assembly.add(process_frames(generator, destination, other, range(2, 4)))
        assert (failed.status, failed.error) == ("failed", "not encoded: frames 0 to 1: boom")
        assert not destination.has("other.mp4") and not destination.has("other.json")
        assert sorted(destination.names("other.frames")) == ["000002.png", "000003.png", "walk.json"]
    finally:
        filesystem = fsspec.filesystem("memory")
        if filesystem.exists(url.removeprefix("memory:/")):
            filesystem.rm(url.removeprefix("memory:/"), recursive=True)


# --- on Ray ----------------------------------------------------------------------------------


def batch(jobs: Path, out: Path, checkpoint: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ganorama", "batch", str(jobs), str(out), "--weights", str(checkpoint),
               "--workers", "2", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env={**os.environ, **RAY_ENV})


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def decoded_frames(video: Path, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True, timeout=60).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3).astype(np.int16)


@pytest.mark.ray
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe (installed by .ci/run)")
def test_an_animate_row_on_ray_makes_animates_video_and_a_rerun_makes_only_missing_frames(tmp_path, tiny_checkpoint):
    """One run with an image row beside the video: the video is the 360 MP4 ganorama
    animate writes, each frame the one Ganorama.animate makes; with frames deleted, a
    rerun makes exactly those and encodes again; a third run skips it."""
    pytest.importorskip("ray")
    from ganorama.export.frames import frames_recipe
    from ganorama.export.spherical import read_spherical_metadata
    from ganorama.pipeline import Ganorama

    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    jobs.write_text(jsonl(VIDEO, {"id": "still", "classes": "sandbar", "seed": 1, **SMALL}))
    first = batch(jobs, out, tiny_checkpoint, "--frames_per_task", "2")
    assert first.returncode == 0, first.stderr
    assert "batch: 7 frames and results to make (0 of 7 done before)" in first.stderr
    estimate = next(line for line in first.stderr.splitlines() if line.startswith("batch: about "))
    assert "of generation for 2 rows on this CPU in float32" in estimate
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 2, "skipped": 0, "failed": 0}
    assert summary["done"][0]["files"] == [str(out / "loop.mp4"), str(out / "loop.json")]

    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-count_frames", "-select_streams", "v",
                                       "-show_streams", str(out / "loop.mp4")], capture_output=True, text=True,
                                      check=True).stdout)["streams"][0]  # fmt: skip
    assert (probe["width"], probe["height"], probe["r_frame_rate"], int(probe["nb_read_frames"])) == (64, 32, "6/1", 6)
    side_data = {item["side_data_type"]: item for item in probe["side_data_list"]}
    assert side_data["Spherical Mapping"]["projection"] == "equirectangular"
    assert "equirectangular" in read_spherical_metadata(out / "loop.mp4")["v1_xml"]

    (row,) = parse_jobs(jsonl(VIDEO), "jobs.jsonl")
    generator = Ganorama.from_pretrained(weights=str(tiny_checkpoint), device="cpu", dtype="float32")
    expected = {index: np.asarray(result.to_pil(), dtype=np.int16) for index, result in
                generator.animate(row.request, row.walk)}  # fmt: skip
    frames = out / "loop.frames"
    for index, image in expected.items():
        apart = np.abs(pixels(frames / f"{index:06d}.png") - image)
        assert apart.max() <= 1 and (apart > 0).mean() <= 0.01, f"frame {index}"
    decoded = decoded_frames(out / "loop.mp4", 64, 32)
    assert len(decoded) == 6 and np.abs(decoded - np.stack(list(expected.values()))).mean() < 8, "H.264 at crf 18"
    assert json.loads((frames / "walk.json").read_text()) == frames_recipe(row.walk, row.request)
    sidecar = json.loads((out / "loop.json").read_text())
    assert (sidecar["kind"], sidecar["walk"], sidecar["dtype"], sidecar["device"]) == (
        "animation", row.walk.to_dict(), "float32", "cpu")  # fmt: skip

    kept = {path.name: path.stat().st_mtime_ns for path in frames.glob("0*.png") if path.name not in
            ("000001.png", "000004.png")}  # fmt: skip
    for name in ("000001.png", "000004.png", "loop.mp4", "loop.json"):
        (frames / name if name.endswith(".png") else out / name).unlink()
    second = batch(jobs, out, tiny_checkpoint)
    assert second.returncode == 0, second.stderr
    assert "batch: 2 frames and results to make (5 of 7 done before)" in second.stderr
    assert {path.name: path.stat().st_mtime_ns for path in frames.glob("0*.png") if path.name in kept} == kept
    assert sorted(path.name for path in frames.iterdir()) == [f"{index:06d}.png" for index in range(6)] + ["walk.json"]
    assert np.abs(decoded_frames(out / "loop.mp4", 64, 32) - decoded).max() <= 1, "the same frames, encoded again"
    third = batch(jobs, out, tiny_checkpoint)
    assert third.returncode == 0 and "0 done, 2 skipped, 0 failed" in third.stdout, third.stderr
    assert not [path.name for path in out.rglob(".*")], "no temporaries left"
