"""Results written to fsspec URLs: every file under its final name only when whole, the
sidecar last, nothing replaced, killed writers' temporaries removable."""
from __future__ import annotations

import json
import uuid

import pytest
import torch

fsspec = pytest.importorskip("fsspec")

from ganorama.batch import numbered_rows, plan_rows, process_rows  # noqa: E402
from ganorama.destinations import Destination  # noqa: E402
from ganorama.errors import UsageError  # noqa: E402
from ganorama.canvas.layouts import View  # noqa: E402
from ganorama.canvas.sphere import SphereCanvas  # noqa: E402
from ganorama.outputs import save_result_files_to_url  # noqa: E402
from ganorama.result import Provenance, Result  # noqa: E402
from ganorama.urls import remove_url_temporaries, url_temporary_name, write_bytes_to_url  # noqa: E402
from ganorama.request import Request  # noqa: E402


@pytest.fixture
def memory_url():
    """A fresh folder on fsspec's in-memory filesystem, removed afterwards."""
    url = f"memory://ganorama-test-{uuid.uuid4().hex}"
    yield url
    filesystem = fsspec.filesystem("memory")
    if filesystem.exists(url.removeprefix("memory:/")):
        filesystem.rm(url.removeprefix("memory:/"), recursive=True)


def a_result(**fields) -> Result:
    request = Request.from_dict({"seed": 1, "panorama_width": 16, "panorama_height": 8, **fields})
    canvas = SphereCanvas([View(0.0, 0.0), View(180.0, 0.0)])
    provenance = Provenance("custom", None, 4, "float32", "cpu")
    return Result(torch.rand(3, 8, 16), torch.rand(2, 3, 4, 4), request, canvas, [{977: 1.0}] * 2, provenance)


def test_a_result_lands_on_a_url_with_the_sidecar_written_last(memory_url, monkeypatch):
    filesystem = fsspec.filesystem("memory")
    moved = []
    original_mv = type(filesystem).mv
    monkeypatch.setattr(type(filesystem), "mv", lambda self, a, b, **k: (moved.append(b), original_mv(self, a, b, **k))[1])
    written = save_result_files_to_url(a_result(save_views=True), memory_url, "beach", format="png")
    assert written == [f"{memory_url}/beach.png", f"{memory_url}/beach_views.png", f"{memory_url}/beach.json"]
    assert moved[-1].endswith("/beach.json"), "the sidecar's presence must mean the result is complete"
    names = sorted(entry.rpartition("/")[2] for entry in filesystem.ls(memory_url, detail=False))
    assert names == ["beach.json", "beach.png", "beach_views.png"], "no temporaries left"
    with filesystem.open(f"{memory_url}/beach.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads(filesystem.cat_file(f"{memory_url}/beach.json"))["request"]["seed"] == 1


def test_a_url_result_never_replaces_a_file_and_writes_nothing_when_refused(memory_url):
    filesystem = fsspec.filesystem("memory")
    filesystem.pipe(f"{memory_url}/beach.json", b"{}")
    with pytest.raises(UsageError, match="beach.json already exists"):
        save_result_files_to_url(a_result(), memory_url, "beach", format="png")
    assert [entry.rpartition("/")[2] for entry in filesystem.ls(memory_url, detail=False)] == ["beach.json"]


def test_a_failed_upload_removes_the_files_already_moved_into_place(memory_url, monkeypatch):
    filesystem = fsspec.filesystem("memory")
    original_put = type(filesystem).put_file

    def put_file(self, local, remote, **kwargs):
        if ".beach.json" in remote:
            raise OSError("disk full")
        return original_put(self, local, remote, **kwargs)

    monkeypatch.setattr(type(filesystem), "put_file", put_file)
    with pytest.raises(OSError, match="disk full"):
        save_result_files_to_url(a_result(), memory_url, "beach", format="png")
    assert filesystem.ls(memory_url, detail=False) == []


def test_killed_writers_temporaries_are_removed_and_results_kept(memory_url):
    filesystem = fsspec.filesystem("memory")
    temporary = url_temporary_name(f"{memory_url}/row-000001.png")
    filesystem.pipe(temporary, b"half")
    filesystem.pipe(f"{memory_url}/row-000000.json", b"{}")
    removed = remove_url_temporaries(memory_url)
    assert [path.rpartition("/")[2] for path in removed] == [temporary.rpartition("/")[2]]
    assert [entry.rpartition("/")[2] for entry in filesystem.ls(memory_url, detail=False)] == ["row-000000.json"]


def test_the_summary_is_replaced_atomically_on_a_url(memory_url):
    write_bytes_to_url(f"{memory_url}/summary.json", b"1", overwrite=True)
    write_bytes_to_url(f"{memory_url}/summary.json", b"2", overwrite=True)
    assert fsspec.filesystem("memory").cat_file(f"{memory_url}/summary.json") == b"2"
    with pytest.raises(UsageError, match="already exists"):
        write_bytes_to_url(f"{memory_url}/summary.json", b"3")


def test_a_worker_resumes_a_url_output_like_a_directory(memory_url, tiny_checkpoint):
    from ganorama.pipeline import Ganorama

    generator = Ganorama.from_pretrained(weights=str(tiny_checkpoint), device="cpu")
    rows = numbered_rows({"kind": "panorama", "panorama_width": 32, "panorama_height": 16}, 2, None, 3)
    destination = Destination(memory_url)
    assert [s.status for s in process_rows(generator, destination, rows[:1])] == ["done"]
    plan = plan_rows(rows, destination)
    assert [row.name for row in plan.done] == ["row-000000"] and [row.name for row in plan.todo] == ["row-000001"]
    assert [s.status for s in process_rows(generator, destination, rows)] == ["skipped", "done"]
    assert destination.names() == {"row-000000.png", "row-000000.json", "row-000001.png", "row-000001.json"}


def test_an_unknown_protocol_is_one_line_naming_the_url():
    with pytest.raises(UsageError, match="output nosuch://x cannot be opened here"):
        Destination("nosuch://x").check()


def test_file_urls_go_through_the_local_writers(tmp_path):
    written = save_result_files_to_url(a_result(), f"file://{tmp_path}", "beach", format="jpg")
    assert written == [str(tmp_path / "beach.jpg"), str(tmp_path / "beach.json")]
    assert Destination(f"file://{tmp_path}").local == tmp_path
    assert Destination(f"file://{tmp_path}").names() == {"beach.jpg", "beach.json"}
    with pytest.raises(UsageError, match="beach.jpg already exists"):
        save_result_files_to_url(a_result(), f"file://{tmp_path}", "beach", format="jpg")
