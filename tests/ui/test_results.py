"""The app's results on disk (no gradio, no browser): the files are the CLI's, written
with the project's own writers; the page's extras (cubemap zip, 3x3 tiling) are exact."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image

from ganorama.errors import UsageError
from ganorama.pipeline import Ganorama
from ganorama.request import Request
from ganorama.ui.results import (TILED_PREVIEW_MAX, ResultStore, RunCancelled, RunControl, classes_title,
                                 generate_result, generate_video, tile_3x3)


@pytest.fixture(scope="module")
def generator(tiny_checkpoint):
    return Ganorama.from_pretrained(weights=str(tiny_checkpoint))


def test_a_stored_panorama_has_the_files_result_save_writes(generator, tmp_path):
    request = Request(kind="panorama", classes="sandbar", seed=3, panorama_width=64, panorama_height=32,
                      cubemap=True, viewer=True, mesh=True, save_views=True)  # fmt: skip
    progress = []
    stored = generate_result(generator, ResultStore(tmp_path / "store"), request,
                             on_progress=lambda done, total: progress.append((done, total)))  # fmt: skip
    # Steps reported as they happen; the last is the composition, which completes the count.
    assert progress and progress[0][0] < progress[0][1] and progress[-1][0] == progress[-1][1]

    reference = tmp_path / "cli" / "panorama_3.png"
    generator.run(request).save(reference)  # what the CLI writes for -o panorama_3.png
    names = sorted(path.name for path in stored.downloads)
    assert names == ["panorama_3.glb", "panorama_3.html", "panorama_3.json", "panorama_3.png",
                     "panorama_3_cubemap.zip", "panorama_3_views.png"]  # fmt: skip
    for path in stored.downloads:
        if path.suffix != ".zip":
            assert path.read_bytes() == (reference.parent / path.name).read_bytes(), path.name
    with zipfile.ZipFile(stored.folder / "panorama_3_cubemap.zip") as archive:
        for member in archive.namelist():
            assert archive.read(member) == (reference.parent / member).read_bytes(), member
        assert len(archive.namelist()) == 7  # six faces and the cross
    assert stored.views_sheet.name == "panorama_3_views.png" and stored.title == "sandbar, seed 3"
    assert "data:image/png;base64," in stored.viewer_page()


def test_a_texture_gets_a_3x3_tiling_of_itself(generator, tmp_path):
    request = Request(kind="texture", classes="valley", seed=1, size=64)
    stored = generate_result(generator, ResultStore(tmp_path), request)
    texture = np.asarray(Image.open(stored.image).convert("RGB"))
    tiled = np.asarray(Image.open(stored.tiled_preview).convert("RGB"))
    assert np.array_equal(tiled, np.tile(texture, (3, 3, 1)))


def test_a_large_texture_preview_is_scaled_to_the_cap():
    sheet = tile_3x3(Image.new("RGB", (1000, 1000), (10, 200, 30)))
    assert max(sheet.size) == TILED_PREVIEW_MAX
    assert sheet.getpixel((5, 5)) == (10, 200, 30)


def test_a_request_the_model_cannot_make_is_refused_with_the_cli_message(generator, tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(UsageError, match="--end_layer 99 is invalid; this model has"):
        generate_result(generator, store, Request(kind="panorama", end_layer=99, panorama_width=64,
                                                  panorama_height=32))  # fmt: skip
    assert list(store.root.iterdir()) == []  # nothing written


def test_discarding_results_removes_their_files(generator, tmp_path):
    store = ResultStore(tmp_path)
    kept, dropped = (generate_result(generator, store, Request(kind="texture", seed=seed, size=32))
                     for seed in (1, 2))  # fmt: skip
    store.discard([dropped.id, "no-such-id"])
    assert store.get(dropped.id) is None and not dropped.folder.exists()
    assert store.get(kept.id) == kept and kept.image.exists()


def test_the_history_keeps_the_newest_results_and_removes_older_files(generator, tmp_path):
    store = ResultStore(tmp_path, keep=2)
    made = [generate_result(generator, store, Request(kind="texture", seed=seed, size=32)) for seed in (1, 2, 3)]
    assert [entry.id for entry in store.recent()] == [made[2].id, made[1].id]  # newest first
    assert not made[0].folder.exists() and store.get(made[0].id) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([made[1].id, made[2].id])


def test_a_mix_is_captioned_by_all_its_classes(generator, tmp_path):
    request = Request(kind="panorama", classes="0.3*valley+0.7*sandbar", seed=3, panorama_width=64,
                      panorama_height=32)  # fmt: skip
    assert generate_result(generator, ResultStore(tmp_path), request).title == "0.7 sandbar + 0.3 valley, seed 3"
    assert classes_title([{977: 2.0, 979: 2.0}, {977: 1.0}]) == "0.5 sandbar + 0.5 valley, sandbar"


@pytest.mark.parametrize("at_step", [1, "last"], ids=["mid-run", "after-composing"])
def test_a_cancelled_run_stops_at_its_next_step_and_keeps_nothing(generator, tmp_path, at_step):
    runs, store = RunControl(), ResultStore(tmp_path)
    runs.start("page")
    steps = []

    def on_progress(done: int, total: int) -> None:
        steps.append(done)
        if done == (total if at_step == "last" else at_step):
            runs.cancel("page")
        runs.check("page")

    request = Request(kind="panorama", seed=3, panorama_width=64, panorama_height=32)
    with pytest.raises(RunCancelled):
        generate_result(generator, store, request, on_progress=on_progress)
    assert store.recent() == [] and list(tmp_path.iterdir()) == []
    if at_step == 1:
        assert steps[-1] == 1  # no step after the cancel


def test_cancel_without_a_run_stops_nothing_later():
    runs = RunControl()
    assert runs.cancel("page") is False
    runs.start("page")
    runs.check("page")  # a new run is not cancelled by a click before it
    runs.finish("page")
    runs.check("page")


def test_a_stored_360_video_is_the_animate_commands_mp4_and_sidecar(generator, tmp_path):
    import json

    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="360 videos need imageio-ffmpeg")
    from ganorama.walks import Walk, keyframes_from

    walk = Walk(keyframes_from("valley|sandbar", 3), 4, 4.0, True, "smooth")
    request = Request(kind="panorama", classes="valley", seed=3, panorama_width=64, panorama_height=32)
    frames = []
    stored = generate_video(generator, ResultStore(tmp_path), request, walk,
                            on_progress=lambda frame, count, done, total: frames.append(frame))  # fmt: skip
    assert [path.name for path in stored.downloads] == ["animation_3.mp4", "animation_3.json"]
    assert imageio_ffmpeg.count_frames_and_secs(str(stored.video))[0] == 4
    content = stored.video.read_bytes()
    assert b"sv3d" in content and b"GSpherical" in content  # V2 and V1 360 metadata
    sidecar = json.loads(stored.sidecar.read_text())
    assert sidecar["kind"] == "animation" and sidecar["walk"] == walk.to_dict()
    assert sorted(set(frames)) == [0, 1, 2, 3]
    assert stored.title == "valley -> sandbar -> valley, 4 frames, seeds 3-4"
    first_frame = np.asarray(Image.open(stored.image).convert("RGB"))
    assert first_frame.shape == (32, 64, 3)


def test_a_cancelled_video_keeps_no_file(generator, tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="360 videos need imageio-ffmpeg")
    from ganorama.walks import Walk, keyframes_from

    def stop_at_frame_two(frame: int, frames: int, done: int, total: int) -> None:
        if frame == 2:
            raise RunCancelled("cancelled")

    walk = Walk(keyframes_from("valley|sandbar", 3), 4, 4.0, True, "smooth")
    request = Request(kind="panorama", classes="valley", seed=3, panorama_width=64, panorama_height=32)
    with pytest.raises(RunCancelled):
        generate_video(generator, ResultStore(tmp_path), request, walk, on_progress=stop_at_frame_two)
    assert list(tmp_path.iterdir()) == []
