"""Generation: latents, classes, seeds, syncing, chunked running and composition.

``Ganorama`` wraps a loaded generator. :meth:`Ganorama.run` turns one
:class:`~ganorama.request.Request` into a :class:`Result`; :meth:`Ganorama.run_many`
runs several, putting requests that share a canvas into one forward. The canvas's sync
operator is applied after blocks ``start_layer <= i < end_layer`` (Python slice
semantics, indices as in ``BigGAN.blocks``); the views run in chunks of at most
``max_views`` (see :mod:`ganorama.runner`), then the canvas composes them.

:meth:`Ganorama.panorama`, :meth:`Ganorama.bigimg` and :meth:`Ganorama.texture` are the
same with keyword arguments.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable, Iterator, Optional, Protocol, Sequence

import torch

from ganorama import __version__
from ganorama.errors import UsageError
from ganorama.export.io import tensor_to_image
from ganorama.latents import fresh_seed, random_class_ids, seeded_generator, truncated_noise
from ganorama.models.biggan import BigGAN
from ganorama.models.imagenet import NUM_CLASSES, class_mix, class_vector, display_name
from ganorama.request import AUTO, DEFAULTS, FIELDS, Request, plain_label
from ganorama.runner import Schedule, run_views

DEFAULT_START_LAYER = DEFAULTS["start_layer"]
DEFAULT_END_LAYER = DEFAULTS["end_layer"]
# Most canvases put in one forward by ``batch="auto"``.
MAX_AUTO_BATCH = 16

# (steps done, steps in all, results this forward makes) while a forward runs.
ProgressCallback = Callable[[int, int, int], None]


class Canvas(Protocol):
    """What the pipeline needs from a canvas (sphere or plane)."""

    num_views: int

    def sync_operator(self, height: int, width: int, device=None): ...


@dataclass(frozen=True)
class Sampling:
    """How latents and classes are drawn; the seed's flags and defaults. Checked when made."""

    truncation: float = DEFAULTS["truncation"]
    z_mul: float = DEFAULTS["z_mul"]
    class_mul: float = DEFAULTS["class_mul"]
    share_z: bool = not DEFAULTS["no_share_z"]
    share_class: bool = DEFAULTS["share_class"]
    start_layer: int = DEFAULT_START_LAYER
    end_layer: int = DEFAULT_END_LAYER

    def __post_init__(self):
        # The request's checks are the one place these values are validated.
        Request(truncation=self.truncation, z_mul=self.z_mul, class_mul=self.class_mul,
                no_share_z=FIELDS["no_share_z"](self.share_z, "share_z"), share_class=self.share_class,
                start_layer=self.start_layer, end_layer=self.end_layer)  # fmt: skip

    def validate(self, num_blocks: int | None = None) -> None:
        """Raise UsageError if the layer range goes past the model's ``num_blocks``."""
        if num_blocks is not None:
            check_layer_range(self.start_layer, self.end_layer, num_blocks)

    def as_request_fields(self) -> dict:
        return dict(truncation=self.truncation, z_mul=self.z_mul, class_mul=self.class_mul,
                    no_share_z=not self.share_z, share_class=self.share_class,
                    start_layer=self.start_layer, end_layer=self.end_layer)  # fmt: skip


@dataclass
class Result:
    """One generated canvas: ``image`` (3, H, W) in [0, 1], the raw ``views``
    (V, 3, S, S) in [0, 1], the ``request`` that makes it again (seed and chunking
    filled in) and ``metadata`` (what the JSON sidecar holds)."""

    image: torch.Tensor
    views: torch.Tensor
    metadata: dict = field(default_factory=dict)
    request: Optional[Request] = None

    def to_pil(self):
        return tensor_to_image(self.image)

    def views_contact_sheet(self, columns: int | None = None):
        return tensor_to_image(contact_sheet(self.views, columns))

    def metadata_json(self) -> str:
        return json.dumps(self.metadata, indent=2, allow_nan=False)

    def save(self, path, format: str | None = None, quality: int | None = None) -> list:
        """Write what the CLI writes for this result: the image at ``path`` (PNG or JPEG by
        its suffix; panoramas with GPano 360 metadata), its JSON sidecar beside it
        (``path`` with ``.json``), and the exports and views its request asks for. Never
        replaces a file; on failure nothing is left. Returns the paths written."""
        from pathlib import Path

        from ganorama.outputs import save_result_files

        return save_result_files(self, Path(path), format=format, quality=quality)


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
    """Register forward hooks that sync the outputs of ``model.blocks[start_layer:end_layer]``,
    for running the model's own (unchunked) forward on a canvas's views.

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


def resolve_classes(spec) -> dict[int, float] | None:
    """A class spec ("sandbar", 977, "0.7*sandbar+0.3*valley", {"sandbar": 0.7, 978: 0.3})
    -> {id: weight} summing to 1; None stays None (random classes)."""
    return None if spec is None else class_mix(spec)


# --- planning: everything decided before the model runs -----------------------------------


@dataclass
class RunPlan:
    """A request checked against a model architecture: its canvas, output size, the
    number of views and the chunking, and the memory it is expected to need."""

    request: Request
    canvas: object
    width: int
    height: int
    memory: object  # ganorama.memory.MemoryPlan

    @property
    def max_views(self) -> int:
        return self.memory.max_views


def plan_request(request: Request, config, device="cpu", dtype=torch.float32, canvases: int = 1,
                 label: Callable[[str], str] = plain_label, canvas_cache: dict | None = None) -> RunPlan:  # fmt: skip
    """Check ``request`` against the architecture ``config`` (no weights needed) and plan
    its run: layer range, overlap on the feature grids, output size, chunk size and
    whether ``canvases`` such canvases in one forward fit in the device's memory.
    Raises UsageError with one line naming the value and what is allowed.

    ``canvas_cache``: a dict in which equal canvases are kept, so that their sync
    operators and composition plans are built once for many requests."""
    from ganorama import memory

    check_layer_range(request.start_layer, request.end_layer, config.num_blocks, label)
    canvas, width, height = _canvas_for(request, config, label, {} if canvas_cache is None else canvas_cache)
    composition = canvas.composition_bytes(height, width) if request.kind == "panorama" else canvas.composition_bytes()
    views = canvas.num_views * canvases
    plan = memory.plan_memory(config, dtype, device, views, request.start_layer, request.end_layer,
                              composition_bytes=composition, max_views=request.max_views,
                              budget=request.memory_budget, label=label)  # fmt: skip
    return RunPlan(request, canvas, width, height, plan)


def check_layer_range(start_layer: int, end_layer: int, num_blocks: int, label: Callable[[str], str] = plain_label
                      ) -> None:  # fmt: skip
    """UsageError if the synced blocks ``start_layer <= i < end_layer`` go past the model's
    ``num_blocks`` (the order of the two is the request's own check)."""
    if end_layer > num_blocks:
        raise UsageError(
            f"layer range {label('start_layer')} {start_layer} {label('end_layer')} {end_layer} is invalid; this "
            f"model has {num_blocks} blocks: need 0 <= start_layer <= end_layer <= {num_blocks}"
        )


def plan_group(request: Request, config, device, dtype, batch: int | str,
               label: Callable[[str], str] = plain_label) -> RunPlan:  # fmt: skip
    """:func:`plan_request` for as many canvases like ``request``'s as ``batch`` puts in
    one forward: what a run of such requests must fit."""
    plan = plan_request(request, config, device, dtype, label=label)
    group = batch_limit(plan, batch)
    return plan if group == 1 else plan_request(request, config, device, dtype, canvases=group, label=label)


def _layout_key(layout) -> str:
    """A layout (a name, or a list of views) as text that compares equal for equal layouts."""
    return json.dumps(layout if isinstance(layout, str) else [vars(view) for view in layout])


def _canvas_for(request: Request, config, label, cache: dict):
    from ganorama.canvas.plane import PlaneCanvas, check_overlap, texture_grid
    from ganorama.canvas.sphere import SphereCanvas, auto_panorama_width

    size = config.output_dim
    if request.kind == "panorama":
        key = ("sphere", _layout_key(request.layout))
        canvas = cache.get(key) or cache.setdefault(key, SphereCanvas.from_layout(request.layout))
        width, height = request.panorama_width, request.panorama_height
        if width == AUTO and height == AUTO:
            width = auto_panorama_width(size, canvas.views)
        if width == AUTO:
            width = 2 * height
        if height == AUTO:
            if width % 2:
                raise UsageError(f"{label('panorama_width')} {width} is odd; with {label('panorama_height')} auto "
                                 "the width must be even (the height is half of it)")
            height = width // 2
        return canvas, width, height
    synced = config.block_resolutions()[request.start_layer : request.end_layer]
    # The feature grids before the pixel grid: that message names the block and the
    # overlaps that work, which says more than "not a whole number of pixels".
    check_overlap(request.overlap, size, synced, first_block=request.start_layer)
    if request.kind == "texture":
        tiles = texture_grid(request.size, size, request.overlap)
        grid = dict(rows=tiles, cols=tiles, tile_size=size, overlap=request.overlap, wrap="xy")
    else:
        grid = dict(rows=request.rows, cols=request.batch_size, tile_size=size, overlap=request.overlap,
                    wrap=request.wrap)  # fmt: skip
    key = ("plane", *grid.values())
    canvas = cache.get(key) or cache.setdefault(key, PlaneCanvas(**grid))
    return canvas, canvas.width, canvas.height


# --- the generator --------------------------------------------------------------------------


class Ganorama:
    """A generator plus the pipeline that turns it into panoramas, big images and textures."""

    def __init__(self, model: BigGAN, model_name: str = "custom", weights: str | None = None):
        self.model = model
        self.model_name = model_name
        self.weights = weights
        # Canvases made so far, by shape: each keeps its sync operators and composition
        # plans, so a run of many results builds them once.
        self._canvases: dict = {}

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
        from ganorama.errors import GanoramaError
        from ganorama.models.biggan import identify_model

        source = model if weights is None else weights
        try:
            loaded = BigGAN.from_pretrained(source, device=device, dtype=dtype)
        except GanoramaError as error:
            raise type(error)(_python_spelling(str(error))) from None
        # Record what was really loaded: the published architecture it is, if any.
        name = model if weights is None else (identify_model(loaded.config) or "custom")
        return cls(loaded, model_name=name, weights=weights)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def image_size(self) -> int:
        return self.model.config.output_dim

    # --- requests ---------------------------------------------------------------------------

    def plan(self, request: Request, canvases: int = 1) -> RunPlan:
        return plan_request(request, self.model.config, self.device, self.dtype, canvases,
                            canvas_cache=self._canvases)  # fmt: skip

    def run(self, request: Request, on_progress: ProgressCallback | None = None) -> Result:
        """Make the result ``request`` describes."""
        return next(self.run_many([request], on_progress=on_progress))

    def run_many(self, requests: Iterable[Request], batch: int | str = 1,
                 on_progress: ProgressCallback | None = None) -> Iterator[Result]:  # fmt: skip
        """Results for ``requests``, in order. Up to ``batch`` consecutive requests that
        share a canvas (kind, size, layout, layer range, truncation, chunking) run as one
        forward of ``batch x views`` views; ``"auto"`` takes as many as one chunk holds."""
        plans = (self.plan(request) for request in requests)
        for group in forward_groups(plans, lambda plan: (batch_key(plan), batch_limit(plan, batch))):
            yield from self._run_group(group, on_progress)

    def _run_group(self, plans: list[RunPlan], on_progress: ProgressCallback | None) -> Iterator[Result]:
        first = plans[0]
        if len(plans) > 1:  # the memory check for the whole group
            first = self.plan(first.request, canvases=len(plans))
        canvas = first.canvas
        drawn = [self._draw(plan.request.seed, plan.request.classes, plan.request.sampling, canvas,
                            plan.request.morph_specs) for plan in plans]  # fmt: skip
        z = torch.cat([inputs.z for inputs in drawn])
        class_vectors = torch.cat([inputs.class_vectors for inputs in drawn])
        schedule = self._schedule(first.request.start_layer, first.request.end_layer, first.max_views, z.shape[0])

        def on_step(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(done, total + 1, len(plans))  # + 1: composing

        with torch.inference_mode():
            views = run_views(self.model, canvas.sync_operator, z.to(self.device, self.dtype),
                              class_vectors.to(self.device, self.dtype), first.request.truncation, schedule,
                              on_step)  # fmt: skip
        for position, (plan, inputs) in enumerate(zip(plans, drawn)):
            own = views[position * canvas.num_views : (position + 1) * canvas.num_views]
            image = self._compose(plan, canvas, own)
            yield self._result(plan, canvas, inputs, image, own.cpu(), group=len(plans), max_views=first.max_views)

    def _schedule(self, start_layer: int, end_layer: int, max_views: int, batch: int) -> Schedule:
        from ganorama.memory import block_view_bytes

        sizes = block_view_bytes(self.model.config, self.dtype)[:-1]  # the blocks, not the output layer
        return Schedule.for_batch(sizes, batch, start_layer, end_layer, max_views)

    @staticmethod
    def _compose(plan: RunPlan, canvas, views: torch.Tensor) -> torch.Tensor:
        if plan.request.kind == "panorama":
            return canvas.compose(views, plan.height, plan.width).clamp(0, 1).cpu()
        return canvas.compose(views).clamp(0, 1).cpu()

    # --- latents and classes ----------------------------------------------------------------

    def _draw(self, seed: int | None, classes, sampling: Sampling, canvas, morph: Sequence[str] | None = None
              ) -> "_Inputs":  # fmt: skip
        """Noise and class vectors for every view of ``canvas`` from ``seed`` (random and
        recorded when None). ``classes``: one spec, a per-view sequence, or None; ``morph``:
        specs blended across the canvas's tile columns instead."""
        seed = fresh_seed() if seed is None else seed
        generator = seeded_generator(seed)
        views = canvas.num_views
        noise_rows = 1 if sampling.share_z else views
        z = truncated_noise(noise_rows, self.model.config.z_dim, sampling.truncation, generator)
        z = (z * sampling.z_mul).expand(views, -1)
        if morph:
            columns = canvas.tile_columns()
            last = max(max(columns), 1)
            per_view = [morph_mix(morph, column / last) for column in columns]
        else:
            per_view = self._class_mixes(classes, views, sampling.share_class, generator)
        class_vectors = torch.stack([class_vector(mix, self.model.config.num_classes) for mix in per_view])
        return _Inputs(seed, z, class_vectors * sampling.class_mul, per_view)

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

    def _result(self, plan: RunPlan, canvas, inputs: "_Inputs", image, views, group: int, max_views: int) -> Result:
        request = plan.request.replace(seed=inputs.seed, max_views=max_views, memory_budget=None)
        if request.kind == "panorama":
            request = request.replace(panorama_width=plan.width, panorama_height=plan.height)
        metadata = {
            "ganorama_version": __version__,
            "kind": request.kind,
            "model": self.model_name,
            "weights": self.weights,
            "image_size": self.image_size,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "seed": inputs.seed,
            "width": image.shape[-1],
            "height": image.shape[-2],
            "max_views": max_views,
            "canvases_per_forward": group,
            "view_classes": _mixes_json(inputs.per_view),
            "view_class_names": [display_name(max(mix, key=mix.get)) for mix in inputs.per_view],
            "request": request.to_dict(),
        }
        if request.kind == "panorama":
            metadata["views"] = [vars(view) for view in canvas.views]
        else:
            metadata.update(rows=canvas.rows, cols=canvas.cols, overlap=canvas.overlap, wrap=canvas.wrap)
        return Result(image, views, metadata, request)

    # --- keyword front ends -----------------------------------------------------------------

    def panorama(self, classes=None, seed: int | None = None, sampling: Sampling | None = None,
                 layout="full", width: int | str = 2000, height: int | str = 1000,
                 max_views: int | None = None, on_progress: ProgressCallback | None = None) -> Result:  # fmt: skip
        """A 360-degree equirectangular panorama of ``width`` x ``height`` pixels (2:1, or
        ``"auto"``: the views' own angular resolution). ``layout``: full, seed16, cube,
        a JSON file of views or a list of views (azimuth, elevation, roll, fov)."""
        request = _keyword_request(dict(kind="panorama", classes=classes, seed=seed, layout=layout,
                                        panorama_width=width, panorama_height=height, max_views=max_views),
                                   sampling, {"panorama_width": "width", "panorama_height": "height"})  # fmt: skip
        return self.run(request, on_progress)

    def bigimg(self, classes=None, seed: int | None = None, sampling: Sampling | None = None, cols: int = 6,
               rows: int = 1, overlap: float = 0.5, wrap: str = "none", morph: Sequence[str] | None = None,
               max_views: int | None = None, on_progress: ProgressCallback | None = None) -> Result:  # fmt: skip
        """A large flat image from a ``rows`` x ``cols`` grid of overlapping tiles.

        ``wrap`` ("none", "x", "y", "xy") makes opposite edges continue each other so the
        image tiles. ``morph``: two or more class specs blended from left to right across
        the canvas (one class mix per tile column) instead of one class everywhere."""
        if morph is not None:
            if classes is not None:
                raise UsageError("give either classes or morph, not both")
            if isinstance(morph, str) or not all(isinstance(spec, str) for spec in morph):
                raise UsageError(f"morph {morph!r} must be a list of two or more class specs")
            classes = "|".join(morph)
        request = _keyword_request(dict(kind="bigimg", classes=classes, seed=seed, batch_size=cols, rows=rows,
                                        overlap=overlap, wrap=wrap, morph=morph is not None, max_views=max_views),
                                   sampling, {"batch_size": "cols"})  # fmt: skip
        return self.run(request, on_progress)

    def texture(self, classes=None, seed: int | None = None, sampling: Sampling | None = None, size: int = 512,
                overlap: float = 0.5, max_views: int | None = None,
                on_progress: ProgressCallback | None = None) -> Result:  # fmt: skip
        """A square texture that tiles in both directions, about ``size`` pixels wide."""
        request = _keyword_request(dict(kind="texture", classes=classes, seed=seed, size=size, overlap=overlap,
                                        max_views=max_views), sampling, {})  # fmt: skip
        return self.run(request, on_progress)

    def generate_views(self, canvas: Canvas, classes, seed: int | None, sampling: Sampling,
                       max_views: int | None = None) -> tuple[torch.Tensor, dict]:  # fmt: skip
        """Run the generator on every view of any ``canvas``, synced, in chunks of
        ``max_views`` (all at once by default). ``classes``: one spec for all views, a
        sequence of per-view specs, or None. Returns the views (V, 3, S, S) in [0, 1] and
        how they were drawn."""
        sampling.validate(self.model.config.num_blocks)
        inputs = self._draw(seed, classes, sampling, canvas)
        schedule = self._schedule(sampling.start_layer, sampling.end_layer, max_views or canvas.num_views,
                                  canvas.num_views)
        with torch.inference_mode():
            views = run_views(self.model, canvas.sync_operator, inputs.z.to(self.device, self.dtype),
                              inputs.class_vectors.to(self.device, self.dtype), sampling.truncation, schedule)  # fmt: skip
        metadata = {"seed": inputs.seed, **{f.name: getattr(sampling, f.name) for f in fields(sampling)},
                    "view_classes": _mixes_json(inputs.per_view)}
        return views, metadata


@dataclass
class _Inputs:
    seed: int
    z: torch.Tensor  # (V, z_dim)
    class_vectors: torch.Tensor  # (V, num_classes)
    per_view: list


def _mixes_json(per_view: list[dict[int, float]]) -> list[dict[str, float]]:
    """Per-view class mixes as JSON objects (keys are text in JSON)."""
    return [{str(class_id): weight for class_id, weight in mix.items()} for mix in per_view]


def _python_spelling(message: str) -> str:
    """A loader message in the words of this API: ``--weights DIR`` is ``weights="DIR"`` here."""
    message = message.replace("pass --weights DIR", 'pass weights="DIR"').replace("--weights", "weights=")
    return message.replace("--model_dtype", "dtype=").replace("--device", "device=")


def _keyword_request(values: dict, sampling: Sampling | None, python_names: dict) -> Request:
    """A request from the keyword API, with messages that name the keywords."""
    if sampling is not None and not isinstance(sampling, Sampling):
        raise UsageError(f"sampling must be a ganorama.Sampling, not {type(sampling).__name__}")
    values.update((sampling or Sampling()).as_request_fields())
    if values.get("max_views") is None:
        values.pop("max_views", None)
    return Request.from_dict(values, label=lambda name: python_names.get(name, name))


def batch_limit(plan: RunPlan, batch: int | str) -> int:
    """How many canvases like ``plan``'s go in one forward: ``batch``, or for ``"auto"`` as
    many as one chunk of ``max_views`` views holds (at least 1, at most MAX_AUTO_BATCH)."""
    if batch == AUTO:
        return max(1, min(MAX_AUTO_BATCH, plan.max_views // plan.canvas.num_views))
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch {batch!r} is invalid; allowed: auto or a whole number >= 1")
    return batch


def forward_groups(items: Iterable, key_and_limit: Callable) -> Iterator[list]:
    """Runs of consecutive ``items`` that go through one forward together: equal keys, at
    most ``limit`` long, where ``key_and_limit(item)`` gives ``(key, limit)`` (items with
    equal keys have equal limits). Lazy: an item is looked at only when its turn comes."""
    group: list = []
    group_key = limit = None
    for item in items:
        key, item_limit = key_and_limit(item)
        if group and (len(group) >= limit or key != group_key):
            yield group
            group = []
        if not group:
            group_key, limit = key, item_limit
        group.append(item)
    if group:
        yield group


def batch_key(plan: RunPlan) -> tuple:
    """What requests must share to go through one forward together: kind, canvas, output
    size, layer range, truncation and chunking (classes and seeds may differ)."""
    request = plan.request
    return (request.kind, _layout_key(request.layout), plan.width, plan.height, request.start_layer, request.end_layer, request.truncation,
            plan.max_views, getattr(plan.canvas, "rows", None), getattr(plan.canvas, "cols", None),
            request.overlap, request.wrap)  # fmt: skip


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
