"""A result: the composed image, the raw views and everything that made them, typed.

Writers (:mod:`ganorama.outputs`, the web app, batch) read its attributes; its JSON
sidecar is :meth:`Result.sidecar`, made from the same attributes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganorama import __version__
from ganorama.export.io import tensor_to_image
from ganorama.models.imagenet import mix_name
from ganorama.outputs import replace_result_files, save_result_files
from ganorama.request import Request


@dataclass(frozen=True)
class Provenance:
    """Which generator made a result, and how it ran: recorded in every sidecar."""

    model: str  # a published name, or "custom"
    weights: str | None  # the checkpoint given instead of a published name
    image_size: int
    dtype: str  # "float32", "float16", ...
    device: str  # "cpu", "cuda", ...


@dataclass
class Result:
    """One generated canvas: ``image`` (3, H, W) in [0, 1], the raw ``views``
    (V, 3, S, S) in [0, 1], the ``request`` that makes it again (seed, size and chunking
    filled in), the ``canvas`` it was made on, and how the views' classes were drawn."""

    image: torch.Tensor
    views: torch.Tensor
    request: Request
    canvas: Any  # a SphereCanvas or PlaneCanvas
    view_classes: list  # per view: {class id: weight}
    provenance: Provenance
    canvases_per_forward: int = 1

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def seed(self) -> int:
        return self.request.seed

    @property
    def max_views(self) -> int:
        return self.request.max_views

    @property
    def view_class_names(self) -> list[str]:
        """Each view's class by name, a mix as its classes and weights (``0.7*sandbar+0.3*valley``,
        the form ``classes`` takes)."""
        return [mix_name(mix) for mix in self.view_classes]

    def sidecar(self) -> dict:
        """What the JSON sidecar holds: the request that makes this result again, the
        generator, the size, and every view's class (and the canvas's views or grid)."""
        provenance = self.provenance
        return {
            "ganorama_version": __version__,
            "kind": self.kind,
            "model": provenance.model,
            "weights": provenance.weights,
            "image_size": provenance.image_size,
            "dtype": provenance.dtype,
            "device": provenance.device,
            "seed": self.seed,
            "width": self.image.shape[-1],
            "height": self.image.shape[-2],
            "max_views": self.max_views,
            "canvases_per_forward": self.canvases_per_forward,
            "view_classes": mixes_json(self.view_classes),
            "view_class_names": self.view_class_names,
            "request": self.request.to_dict(),
            **self.canvas.describe(),
        }

    @property
    def metadata(self) -> dict:
        """The sidecar (see :meth:`sidecar`)."""
        return self.sidecar()

    def metadata_json(self) -> str:
        return json.dumps(self.sidecar(), indent=2, allow_nan=False)

    def to_pil(self):
        return tensor_to_image(self.image)

    def views_contact_sheet(self, columns: int | None = None):
        return tensor_to_image(contact_sheet(self.views, columns or self.canvas.sheet_columns))

    def save(self, path, format: str | None = None, quality: int | None = None, overwrite: bool = False) -> list:
        """Write what the CLI writes for this result: the image at ``path`` (``format``, else
        by its suffix: PNG, JPEG, EXR, Radiance .hdr; ``format="png16"`` for a 16-bit PNG;
        the float formats from the float image itself; panoramas with GPano 360 metadata
        where the format has room), its JSON sidecar beside it (``path`` with ``.json``),
        and the exports and views its request asks for. On failure nothing is left. An
        existing file is refused (check before computing with ``Ganorama.run(...,
        save_to=path)``) unless ``overwrite``: then the whole result is written aside first
        and each file replaces its namesake atomically, the sidecar last. Returns the paths
        written."""
        if overwrite:
            return replace_result_files(self, Path(path), format=format, quality=quality)
        return save_result_files(self, Path(path), format=format, quality=quality)


def mixes_json(per_view: list[dict[int, float]]) -> list[dict[str, float]]:
    """Per-view class mixes as JSON objects (keys are text in JSON)."""
    return [{str(class_id): weight for class_id, weight in mix.items()} for mix in per_view]


def contact_sheet(views: torch.Tensor, columns: int | None = None, gap: int = 2) -> torch.Tensor:
    """(V, 3, S, S) -> (3, H, W) grid of the views, in order, left to right then down."""
    count, channels, size, _ = views.shape
    columns = columns or min(count, 6)
    rows = -(-count // columns)
    sheet = views.new_zeros(channels, rows * (size + gap) - gap, columns * (size + gap) - gap)
    for index in range(count):
        top, left = (index // columns) * (size + gap), (index % columns) * (size + gap)
        sheet[:, top : top + size, left : left + size] = views[index]
    return sheet
