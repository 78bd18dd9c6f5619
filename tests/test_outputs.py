"""Writing results: atomic files, index claims, stale temporaries, all-or-nothing results."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
import torch

from ganorama.errors import UsageError
from ganorama.files import atomic_path, claim_index, next_free_index, remove_stale_temporaries, temporary_name
from ganorama.outputs import save_numbered_result
from ganorama.canvas.layouts import View
from ganorama.canvas.plane import PlaneCanvas
from ganorama.canvas.sphere import SphereCanvas
from ganorama.result import Provenance, Result
from ganorama.request import Request


def _result(kind: str = "panorama", **fields) -> Result:
    """A small result as the pipeline makes one (the image is a gradient, not generated)."""
    request = Request(kind=kind, seed=1, **fields)
    image = torch.linspace(0, 1, 3 * 8 * 16).reshape(3, 8, 16)
    views = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    canvas = SphereCanvas([View(0.0, 0.0)] * 2) if kind == "panorama" else PlaneCanvas(1, 2, 4, overlap=0.5)
    provenance = Provenance("custom", None, 4, "float32", "cpu")
    return Result(image, views, request, canvas, [{977: 1.0}] * 2, provenance)


def test_a_failed_write_leaves_no_file_under_its_final_name(tmp_path):
    target = tmp_path / "image.png"
    with pytest.raises(OSError):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_never_replaced(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists"):
        with atomic_path(target) as temp:
            temp.write_bytes(b"theirs")
    assert target.read_bytes() == b"mine" and len(list(tmp_path.iterdir())) == 1


def test_a_result_that_cannot_be_finished_is_removed_whole(tmp_path, monkeypatch):
    """A full disk while writing the sidecar (the last file): the image and the views
    written before it are removed, so no partial result is left and no number is taken."""
    from ganorama.files import FileSet

    real_write_json = FileSet.write_json

    def full_disk(self, destination, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(destination))

    monkeypatch.setattr(FileSet, "write_json", full_disk)
    with pytest.raises(OSError):
        save_numbered_result(_result(save_views=True), tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == []
    monkeypatch.setattr(FileSet, "write_json", real_write_json)
    written = save_numbered_result(_result(save_views=True), tmp_path)
    assert [path.name for path in written] == ["0.png", "0_views.png", "0.json"]


def test_claims_give_different_numbers_and_are_released(tmp_path):
    with claim_index(tmp_path) as first, claim_index(tmp_path) as second:
        assert (first, second) == (0, 1)
        assert sorted(path.name for path in tmp_path.iterdir()) == [".0.claim", ".1.claim"]
    assert list(tmp_path.iterdir()) == [] and next_free_index(tmp_path) == 0


def test_a_number_finished_meanwhile_is_not_claimed_again(tmp_path):
    (tmp_path / "0.jpg").write_bytes(b"done by another run")
    with claim_index(tmp_path) as index:
        assert index == 1


def test_temporaries_and_claims_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".3.png.ganorama-{dead_pid}-1-0badc0de.part.png"
    stale_claim = tmp_path / ".3.claim"
    live = temporary_name(tmp_path / "4.png")  # this process's own, in progress
    for path in (stale, live):
        path.write_bytes(b"x")
    stale_claim.write_text(f"{dead_pid}-1")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale, stale_claim]) and live.exists()


def test_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "a.json") as temp:
            temp.write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
