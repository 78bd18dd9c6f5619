"""Generation: latents, classes, seeds, sync hooks, batching and composition.

``Ganorama`` wraps a loaded generator; :meth:`Ganorama.panorama` and
:meth:`Ganorama.bigimg` run one batch of overlapping views on a canvas, with the
canvas's sync operator hooked onto generator blocks ``start_layer <= i < end_layer``
(Python slice semantics, indices as in ``BigGAN.blocks``), then compose the views.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence

import torch

from ganorama import __version__
from ganorama.errors import UsageError
from ganorama.export.io import tensor_to_image
from ganorama.latents import fresh_seed, random_class_ids, seeded_generator, truncated_noise
from ganorama.models.biggan import BigGAN, check_truncation
from ganorama.models.imagenet import NUM_CLASSES, class_vector, display_name, parse_class_mix

DEFAULT_START_LAYER = 2
DEFAULT_END_LAYER = 7


class Canvas(Protocol):
    """What the pipeline needs from a canvas (sphere or plane)."""

    num_views: int

    def sync_operator(self, height: int, width: int, device=None): ...


@dataclass(frozen=True)
class Sampling:
    """How latents and classes are drawn; the seed's flags and defaults."""

    truncation: float = 0.5
    z_mul: float = 1.0
    class_mul: float = 1.0
    share_z: bool = True
    share_class: bool = False
    start_layer: int = DEFAULT_START_LAYER
    end_layer: int = DEFAULT_END_LAYER

    def validate(self, num_blocks: int | None = None) -> None:
        """Raise UsageError for bad values; without ``num_blocks`` (model not loaded yet)
        the upper bound of the layer range is not checked."""
        check_truncation(self.truncation)
        upper = self.end_layer if num_blocks is None else num_blocks
        if not (0 <= self.start_layer <= self.end_layer <= upper):
            raise UsageError(
                f"layer range start_layer={self.start_layer} end_layer={self.end_layer} is invalid; "
                f"need 0 <= start_layer <= end_layer <= number of blocks ({num_blocks or 'model-dependent'})"
            )


@dataclass
class Result:
    """One generated canvas: ``image`` (3, H, W) in [0, 1], the raw ``views``
    (V, 3, S, S) in [0, 1], and ``metadata`` enough to regenerate it."""

    image: torch.Tensor
    views: torch.Tensor
    metadata: dict = field(default_factory=dict)

    def to_pil(self):
        return tensor_to_image(self.image)

    def views_contact_sheet(self, columns: int | None = None):
        return tensor_to_image(contact_sheet(self.views, columns))

    def metadata_json(self) -> str:
        return json.dumps(self.metadata, indent=2)


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


@contextlib.contextmanager
def sync_hooks(model: BigGAN, canvas: Canvas, start_layer: int, end_layer: int) -> Iterator[None]:
    """Register forward hooks that sync the outputs of ``model.blocks[start_layer:end_layer]``.

    The operator is fetched per feature size (cached by the canvas) and applied in
    float32; the hook returns the model's dtype."""

    def hook(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
        operator = canvas.sync_operator(output.shape[-2], output.shape[-1], output.device)
        return operator(output)

    handles = [block.register_forward_hook(hook) for block in model.blocks[start_layer:end_layer]]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def resolve_classes(spec: str | int | dict | None) -> dict[int, float] | None:
    """A class spec ("sandbar", 977, "0.7*sandbar+0.3*valley", {977: 1.0}) -> {id: weight}."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {int(k): float(v) for k, v in spec.items()}
    return parse_class_mix(str(spec))


class Ganorama:
    """A generator plus the pipeline that turns it into panoramas and big images."""

    def __init__(self, model: BigGAN, model_name: str = "custom"):
        self.model = model
        self.model_name = model_name

    @classmethod
    def from_pretrained(
        cls,
        model: str = "biggan-deep-256",
        weights: str | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> "Ganorama":
        """Load ``model`` (a published name) or the checkpoint at ``weights`` (a local
        directory/file or ``hf:OWNER/REPO``)."""
        # Record what was really loaded: the weights' source when given, else the model name.
        return cls(BigGAN.from_pretrained(weights or model, device=device, dtype=dtype), model_name=weights or model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def image_size(self) -> int:
        return self.model.config.output_dim

    # --- the shared core -----------------------------------------------------------

    def generate_views(
        self,
        canvas: Canvas,
        classes: str | int | dict | None | Sequence,
        seed: int | None,
        sampling: Sampling,
    ) -> tuple[torch.Tensor, dict]:
        """Run the generator on every view of ``canvas`` as one batch, synced.

        ``classes``: one spec for all views, a sequence of per-view specs, or None (a
        random class per view, or one shared by all with ``share_class``). Returns the
        views (V, 3, S, S) in [0, 1] and the metadata of how they were drawn."""
        sampling.validate(self.model.config.num_blocks)
        seed = fresh_seed() if seed is None else int(seed)
        generator = seeded_generator(seed)
        views = canvas.num_views
        noise_rows = 1 if sampling.share_z else views
        z = truncated_noise(noise_rows, self.model.config.z_dim, sampling.truncation, generator)
        z = (z * sampling.z_mul).expand(views, -1)

        per_view = self._class_mixes(classes, views, sampling.share_class, generator)
        class_vectors = torch.stack([class_vector(mix, self.model.config.num_classes) for mix in per_view])
        class_vectors = class_vectors * sampling.class_mul

        with torch.inference_mode(), sync_hooks(self.model, canvas, sampling.start_layer, sampling.end_layer):
            output = self.model(
                z.to(self.device, self.dtype), class_vectors.to(self.device, self.dtype), sampling.truncation
            )
        images = (output.float() + 1) / 2  # tanh range -> [0, 1], keeping the dark half
        metadata = {
            "ganorama_version": __version__,
            "model": self.model_name,
            "image_size": self.image_size,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "seed": seed,
            **{name: getattr(sampling, name) for name in sampling.__dataclass_fields__},
            "classes": classes if isinstance(classes, (str, int, type(None))) else list(classes),
            "view_classes": [{str(k): v for k, v in mix.items()} for mix in per_view],
            "view_class_names": [display_name(max(mix, key=mix.get)) for mix in per_view],
        }
        return images, metadata

    @staticmethod
    def _class_mixes(classes, views: int, share_class: bool, generator: torch.Generator) -> list[dict[int, float]]:
        if classes is None:
            ids = random_class_ids(1 if share_class else views, NUM_CLASSES, generator)
            return [{ids[0 if share_class else view]: 1.0} for view in range(views)]
        if isinstance(classes, (str, int, dict)):
            return [resolve_classes(classes)] * views
        mixes = [resolve_classes(spec) for spec in classes]
        if len(mixes) != views:
            raise UsageError(f"got {len(mixes)} per-view classes for a canvas of {views} views")
        return mixes

    # --- canvases ----------------------------------------------------------------------

    def panorama(
        self,
        classes: str | int | dict | None | Sequence = None,
        seed: int | None = None,
        sampling: Sampling | None = None,
        layout: str = "full",
        width: int = 2000,
        height: int = 1000,
        canvas=None,
    ) -> Result:
        """A 360-degree equirectangular panorama of ``width`` x ``height`` pixels."""
        from ganorama.canvas.sphere import SphereCanvas

        if width < 1 or height < 1:
            raise UsageError(f"panorama size {width}x{height} is invalid; width and height must be >= 1")
        canvas = canvas or SphereCanvas.from_layout(layout)
        sampling = sampling or Sampling()
        views, metadata = self.generate_views(canvas, classes, seed, sampling)
        image = canvas.compose(views, height, width).clamp(0, 1)
        metadata.update(
            kind="panorama",
            layout=layout,
            views=[vars(view) for view in canvas.views],
            panorama_width=width,
            panorama_height=height,
        )
        return Result(image, views, metadata)

    def bigimg(
        self,
        classes: str | int | dict | None | Sequence = None,
        seed: int | None = None,
        sampling: Sampling | None = None,
        cols: int = 6,
        rows: int = 1,
        overlap: float = 0.5,
        wrap: str = "none",
        morph: Sequence[str] | None = None,
    ) -> Result:
        """A large flat image from a ``rows`` x ``cols`` grid of overlapping tiles.

        ``wrap`` ("none", "x", "y", "xy") makes opposite edges continue each other so the
        image tiles. ``morph``: two or more class specs blended from left to right across
        the canvas (one class mix per tile column) instead of one class everywhere."""
        from ganorama.canvas.plane import PlaneCanvas, check_overlap

        sampling = sampling or Sampling()
        sampling.validate(self.model.config.num_blocks)
        synced = self.model.config.block_resolutions()[sampling.start_layer : sampling.end_layer]
        # The overlap check first: its message names the block whose feature grid it misses.
        check_overlap(overlap, self.image_size, synced, first_block=sampling.start_layer)
        canvas = PlaneCanvas(rows=rows, cols=cols, tile_size=self.image_size, overlap=overlap, wrap=wrap)
        if morph is not None:
            if classes is not None:
                raise UsageError("give either classes or morph, not both")
            classes = [morph_mix(morph, column / max(cols - 1, 1)) for _ in range(rows) for column in range(cols)]
        views, metadata = self.generate_views(canvas, classes, seed, sampling)
        image = canvas.compose(views).clamp(0, 1)
        metadata.update(kind="bigimg", rows=rows, cols=cols, overlap=overlap, wrap=wrap,
                        morph=list(morph) if morph is not None else None,
                        width=image.shape[-1], height=image.shape[-2])  # fmt: skip
        return Result(image, views, metadata)


def morph_mix(specs: Sequence[str], position: float) -> dict[int, float]:
    """The class mix at ``position`` in [0, 1] along a piecewise-linear path through ``specs``."""
    if len(specs) < 2:
        raise UsageError(f"morphing needs at least two classes, got {len(specs)}")
    scaled = position * (len(specs) - 1)
    index = min(int(scaled), len(specs) - 2)
    fraction = scaled - index
    mix: dict[int, float] = {}
    for spec, weight in ((specs[index], 1 - fraction), (specs[index + 1], fraction)):
        for class_id, share in resolve_classes(spec).items():
            mix[class_id] = mix.get(class_id, 0.0) + weight * share
    return {class_id: share for class_id, share in mix.items() if share > 0}
