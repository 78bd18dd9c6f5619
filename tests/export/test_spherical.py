"""The spherical video boxes: written into a real ffmpeg MP4, parsed back here and by ffprobe."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ganorama.errors import GanoramaError
from ganorama.export.spherical import V1_UUID, add_spherical_metadata, iter_boxes, read_spherical_metadata, v2_boxes

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg/ffprobe (installed by .ci/run)")


def encoded(path: Path, *extra: str) -> Path:
    """A 6-frame 64x32 H.264 MP4 made by ffmpeg itself, with an AAC track beside the video."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x32:rate=6", "-f", "lavfi", "-i",
                    "sine=frequency=440", "-frames:v", "6", "-shortest", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    *extra, str(path)], check=True)  # fmt: skip
    return path


def spherical_side_data(path: Path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-select_streams", "v", "-count_frames",
                           "-show_streams", str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    (stream,) = json.loads(done.stdout)["streams"]
    side = {item["side_data_type"]: item for item in stream.get("side_data_list", [])}
    return {"frames": int(stream["nb_read_frames"]), **side}


@pytest.mark.parametrize("layout", [(), ("-movflags", "+faststart")], ids=["moov-last", "moov-first"])
def test_marked_videos_read_as_equirectangular_and_still_decode_whatever_the_box_order(tmp_path, layout):
    path = encoded(tmp_path / "v.mp4", *layout)
    add_spherical_metadata(path)
    side = spherical_side_data(path)
    assert side["frames"] == 6
    assert side["Spherical Mapping"]["projection"] == "equirectangular"
    metadata = read_spherical_metadata(path)
    assert metadata["v2"] == {"stereo_mode": 0, "software": "Ganorama", "pose": (0, 0, 0),
                              "projection": "equirectangular", "bounds": (0, 0, 0, 0)}  # fmt: skip
    assert "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>" in metadata["v1_xml"]


def test_ffprobe_reads_the_v1_box_on_its_own(tmp_path):
    path = encoded(tmp_path / "v1.mp4")
    add_spherical_metadata(path, v2=False)
    assert spherical_side_data(path)["Spherical Mapping"]["projection"] == "equirectangular"
    assert read_spherical_metadata(path)["v2"] is None


def test_marking_twice_keeps_one_set_of_boxes_and_only_the_video_track_is_marked(tmp_path):
    path = encoded(tmp_path / "v.mp4")
    add_spherical_metadata(path)
    add_spherical_metadata(path)
    data = path.read_bytes()
    assert data.count(V1_UUID) == 1 and data.count(b"sv3d") == 1 and data.count(b"st3d") == 1
    assert spherical_side_data(path)["frames"] == 6
    audio = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    assert audio.stdout.strip() == "aac"


def test_the_v2_boxes_nest_as_the_rfc_says():
    data = v2_boxes()
    kinds = [kind for kind, *_ in iter_boxes(data)]
    assert kinds == [b"st3d", b"sv3d"]
    ((_, _, payload, end),) = [box for box in iter_boxes(data) if box[0] == b"sv3d"]
    assert [kind for kind, *_ in iter_boxes(data, payload, end)] == [b"svhd", b"proj"]


def test_a_file_that_is_not_an_mp4_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
    with pytest.raises(GanoramaError, match="moov"):
        add_spherical_metadata(path)
    path.write_bytes(b"\x00\x00\x00\xffmoov")
    with pytest.raises(GanoramaError, match="broken"):
        add_spherical_metadata(path)
