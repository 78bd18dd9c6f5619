"""A result is typed: its sidecar is made from its attributes (the request, the canvas,
the classes, the generator), and a writer never reads the sidecar back."""
from __future__ import annotations

import json

import torch

from ganorama.canvas.plane import PlaneCanvas
from ganorama.canvas.sphere import SphereCanvas
from ganorama.request import Request
from ganorama.result import Provenance, Result


def _result(request: Request, canvas) -> Result:
    provenance = Provenance("biggan-deep-128", None, 128, "float32", "cpu")
    views = torch.zeros(canvas.num_views, 3, 4, 4)
    mixes = [{977: 0.75, 978: 0.25}] * canvas.num_views
    return Result(torch.zeros(3, 8, 16), views, request, canvas, mixes, provenance)


def test_a_panorama_sidecar_records_the_request_the_generator_and_the_views():
    canvas = SphereCanvas.from_layout("cube")
    result = _result(Request(seed=5, classes="sandbar", max_views=6), canvas)
    sidecar = result.sidecar()
    assert list(sidecar)[:8] == ["ganorama_version", "kind", "model", "weights", "image_size", "dtype", "device", "seed"]
    assert (sidecar["kind"], sidecar["seed"], sidecar["max_views"], sidecar["width"], sidecar["height"]) == (
        "panorama", 5, 6, 16, 8)
    assert sidecar["views"] == [vars(view) for view in canvas.views]
    assert sidecar["view_classes"][0] == {"977": 0.75, "978": 0.25}
    # A mix is captioned by all its classes, in the form --class_names takes, not by its largest alone.
    assert sidecar["view_class_names"][0] == result.view_class_names[0] == "0.75*sandbar+0.25*seashore"
    assert Request.from_sidecar(json.dumps(sidecar)) == result.request
    assert result.metadata == sidecar and json.loads(result.metadata_json()) == sidecar


def test_a_flat_result_records_its_grid_and_keeps_its_columns_in_the_views_sheet():
    canvas = PlaneCanvas(rows=2, cols=3, tile_size=4, overlap=0.5, wrap="x")
    result = _result(Request(kind="bigimg", seed=1, rows=2, batch_size=3, wrap="x"), canvas)
    sidecar = result.sidecar()
    assert {key: sidecar[key] for key in ("rows", "cols", "overlap", "wrap")} == canvas.describe()
    assert "views" not in sidecar and canvas.projection == "flat"
    sheet = result.views_contact_sheet()
    assert sheet.size == (3 * 4 + 2 * 2, 2 * 4 + 2)  # three tiles across, two down, 2 px gaps
