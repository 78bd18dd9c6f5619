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
from ganorama.ui.results import TILED_PREVIEW_MAX, ResultStore, generate_result, tile_3x3


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
