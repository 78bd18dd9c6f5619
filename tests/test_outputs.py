"""Writing a result: its files all or nothing, the sidecar last."""
from __future__ import annotations

import errno

import pytest
import torch

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
