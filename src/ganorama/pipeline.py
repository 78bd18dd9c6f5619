"""Generation: latents, classes, seeds, syncing, chunked running and composition.

``Ganorama`` wraps a loaded generator. :meth:`Ganorama.run` turns one
:class:`~ganorama.request.Request` into a :class:`~ganorama.result.Result`;
:meth:`Ganorama.run_many` runs several, putting requests that share a canvas into one
forward. Requests are planned by the generator's :class:`~ganorama.planning.Planner` (or
come planned, as :class:`~ganorama.planning.RunPlan`); the canvas's sync operator is
applied after blocks ``start_layer <= i < end_layer`` (Python slice semantics, indices as
in ``BigGAN.blocks``); the views run in chunks of at most ``max_views`` (see
:mod:`ganorama.runner`), then the canvas composes them. Sphere and plane canvases answer
the same questions, so nothing here depends on the kind of result.

:meth:`Ganorama.panorama`, :meth:`Ganorama.bigimg` and :meth:`Ganorama.texture` are the
same with keyword arguments.
"""
from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import torch

from ganorama.devices import tune_cpu_allocator
from ganorama.errors import GanoramaError, UsageError
from ganorama.latents import fresh_seed, random_class_ids, seeded_generator, slerp, truncated_noise
from ganorama.memory import block_view_bytes
from ganorama.models.biggan import BigGAN
from ganorama.models.config import DEFAULT_MODEL, identify_model
from ganorama.models.imagenet import NUM_CLASSES, class_mix, class_vector
from ganorama.models.weights import KNOWN_MODELS
from ganorama.outputs import check_result_paths
from ganorama.planning import Planner, RunPlan, forward_groups
from ganorama.request import DEFAULTS, Request, Sampling, plain_label
from ganorama.result import Provenance, Result, mixes_json
from ganorama.runner import Schedule, run_views
from ganorama.walks import Walk

DEFAULT_START_LAYER = DEFAULTS["start_layer"]
DEFAULT_END_LAYER = DEFAULTS["end_layer"]

# (steps done, steps in all, results this forward makes) while a forward runs.
ProgressCallback = Callable[[int, int, int], None]


class Canvas(Protocol):
    """What the pipeline needs from a canvas (sphere or plane alike)."""

    num_views: int

    def sync_operator(self, height: int, width: int, device=None): ...

    def compose(self, views: torch.Tensor, height: int, width: int) -> torch.Tensor: ...

    def tile_columns(self) -> list[int]: ...


@contextlib.contextmanager
def sync_hooks(model: BigGAN, canvas: Canvas, start_layer: int, end_layer: int) -> Iterator[None]:
    """Register forward hooks that sync the outputs of ``model.blocks[start_layer:end_layer]``,
    for running the model's own (unchunked) forward on a canvas's views.

    The operator is fetched per feature size (cached by the canvas); it sums in float32
    and returns the model's dtype."""

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


# --- the generator --------------------------------------------------------------------------


class Ganorama:
    """A generator plus the pipeline that turns it into panoramas, big images and textures."""

    def __init__(self, model: BigGAN, model_name: str = "custom", weights: str | None = None,
                 planner: Planner | None = None):  # fmt: skip
        if next(model.parameters()).device.type == "cpu":
            # A library user gets the CLI's speed: without it glibc gives every large block
            # fresh mmap'd pages (zeroed on first touch) and a forward on the CPU spends much
            # of its time in page faults. Process-wide; GANORAMA_MALLOC_TUNING=0 opts out.
            tune_cpu_allocator()
        self.model = model
        self.model_name = model_name
        self.weights = weights
        # Plans requests for this model; it keeps the canvases made so far by shape, each
        # with its sync operators and composition plans, so many results build them once.
        # A planner made before loading (the CLI's preflight) may be handed over.
        self.planner = planner if planner is not None else Planner(model.config, self.device, self.dtype)
        self.planner.weights_loaded = True

    @classmethod
    def from_pretrained(
        cls,
        model: str = DEFAULT_MODEL,
        weights: str | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        planner: Planner | None = None,
        flag_messages: bool = False,
    ) -> "Ganorama":
        """Load ``model`` (a published name) or the checkpoint at ``weights`` (a local
        directory/file or ``hf:OWNER/REPO``). ``planner``: the one that planned requests
        for this model before it was loaded, so its canvases are reused. A load that
        fails says what to pass in this API's keywords (``weights="DIR"``), or with
        ``flag_messages`` in the command line's flags (``--weights DIR``)."""
        source = model if weights is None else weights
        try:
            loaded = BigGAN.from_pretrained(source, device=device, dtype=dtype)
        except GanoramaError as error:
            if flag_messages:
                raise
            raise type(error)(_python_spelling(str(error))) from None
        # Record what was really loaded: the published architecture it is, if any.
        name = model if weights is None else (identify_model(loaded.config) or "custom")
        parameter = next(loaded.parameters())
        if planner is not None and (planner.config.to_dict() != loaded.config.to_dict() or planner.dtype != parameter.dtype
                                    or torch.device(planner.device).type != parameter.device.type):  # fmt: skip
            planner = None  # planned for another architecture, dtype or device: plan afresh
        return cls(loaded, model_name=name, weights=_recorded_weights(weights), planner=planner)

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
        """``request`` checked against this model and planned (see :class:`~ganorama.planning.Planner`)."""
        return self.planner.for_group(self.planner.plan(request), canvases)

    def preflight(self, request: Request, batch: int | str = 1, label=plain_label, count: int | None = None) -> RunPlan:
        """Plan ``request`` and refuse, in one line, what cannot run or fit in memory now
        (``label`` spells field names in the messages, e.g. ``--truncation``); ``count``:
        how many results the run makes, so a ``batch`` above it is not checked for."""
        return self.planner.preflight(request, batch, label, count)

    def run(self, request: Request | RunPlan, on_progress: ProgressCallback | None = None,
            save_to: str | os.PathLike | None = None, overwrite: bool = False) -> Result:  # fmt: skip
        """Make the result ``request`` (or a plan of it) describes; with ``save_to``, save
        it there (see :meth:`Result.save`), an existing file refused before computing
        unless ``overwrite``."""
        if save_to is not None and not overwrite:
            plain = request.request if isinstance(request, RunPlan) else request
            check_result_paths(Path(save_to), plain)
        result = next(self.run_many([request], on_progress=on_progress))
        if save_to is not None:
            result.save(save_to, overwrite=overwrite)
        return result

    def run_many(self, requests: Iterable[Request | RunPlan], batch: int | str = 1,
                 on_progress: ProgressCallback | None = None) -> Iterator[Result]:  # fmt: skip
        """Results for ``requests`` (requests, or plans made by this generator's planner),
        in order. Up to ``batch`` consecutive ones that share a canvas, output size, layer
        range, truncation and chunking run as one forward of ``batch x views`` views;
        ``"auto"`` takes as many as one chunk holds."""
        plans = (item if isinstance(item, RunPlan) else self.planner.plan(item) for item in requests)
        for group in forward_groups(plans, batch):
            yield from self._run_group(group, on_progress)

    def _run_group(self, plans: list[RunPlan], on_progress: ProgressCallback | None,
                   drawn: list["_Inputs"] | None = None) -> Iterator[Result]:  # fmt: skip
        """Results for ``plans`` in one forward; ``drawn``: their inputs, when not drawn
        from each request's seed and classes (an animation's interpolated frames)."""
        first = self.planner.for_group(plans[0], len(plans))  # the group's chunking and memory
        canvas = first.canvas
        if drawn is None:
            drawn = [self._draw(plan.request.seed, plan.request.classes, plan.request.sampling, canvas,
                                plan.request.morph_specs) for plan in plans]  # fmt: skip
        z = torch.cat([inputs.z for inputs in drawn])
        class_vectors = torch.cat([inputs.class_vectors for inputs in drawn])
        schedule = self._schedule(first.request.start_layer, first.request.end_layer, first.max_views, z.shape[0])

        forward_steps = schedule.steps(z.shape[0], len(self.model.generator.layers))

        def report(done: int) -> None:
            if on_progress is not None:  # the forward's steps, then one per result composed
                on_progress(done, forward_steps + len(plans), len(plans))

        with torch.inference_mode():
            views = run_views(self.model, canvas.sync_operator, z.to(self.device, self.dtype),
                              class_vectors.to(self.device, self.dtype), first.request.truncation, schedule,
                              lambda done, total: report(done))  # fmt: skip
        for position, (plan, inputs) in enumerate(zip(plans, drawn)):
            own = views[position * canvas.num_views : (position + 1) * canvas.num_views]
            image = canvas.compose(own, plan.height, plan.width).clamp(0, 1).cpu()
            report(forward_steps + position + 1)
            yield self._result(plan, inputs, image, own.cpu(), group=len(plans), max_views=first.max_views)

    def animate(self, request: Request | RunPlan, walk: Walk, frames: Iterable[int] | None = None,
                batch: int | str = 1, on_progress: ProgressCallback | None = None) -> Iterator[tuple[int, Result]]:  # fmt: skip
        """The frames of ``walk`` on ``request``'s canvas (its layout, size, sync blocks,
        sampling and chunking; its classes and seed are the keyframes'), as
        ``(frame index, Result)`` in order, one forward of up to ``batch`` frames at a time:
        nothing holds more than one forward's frames. ``frames``: the indices to make
        (default: all; a resumed render passes the missing ones).

        Each keyframe's noise and class vectors are drawn exactly as :meth:`run` draws them
        for that seed and class, so a frame on a keyframe is that panorama; between two
        keyframes the noise follows the great circle (:func:`~ganorama.latents.slerp`) and
        the class vectors blend linearly."""
        plan = request if isinstance(request, RunPlan) else self.planner.plan(request)
        if plan.request.kind != "panorama":
            raise UsageError(f"an animation is made of panoramas, not a {plan.request.kind}")
        sampling = plan.request.sampling
        stops = [self._draw(keyframe.seed, keyframe.classes, _keyframe_sampling(sampling, keyframe), plan.canvas)
                 for keyframe in walk.keyframes]  # fmt: skip
        indices = list(range(walk.frames)) if frames is None else [int(index) for index in frames]
        for index in indices:
            walk.position(index)  # every index checked before the first forward
        limit = plan.group_limit(batch)
        # Frames of one truncation share a forward (the model takes it per forward): with
        # keyframes of their own truncations, the frames between them go one by one.
        plans = {sampling.truncation: plan}
        for first in range(0, len(indices), limit):
            for truncation, group in _runs(indices[first : first + limit],
                                           lambda index: walk.truncation_at(index, sampling.truncation)):  # fmt: skip
                if truncation not in plans:
                    plans[truncation] = self.planner.plan(plan.request.replace(truncation=truncation))
                drawn = [_between(stops, *walk.position(index)) for index in group]
                yield from zip(group, self._run_group([plans[truncation]] * len(group), on_progress, drawn))

    def _schedule(self, start_layer: int, end_layer: int, max_views: int, batch: int) -> Schedule:
        sizes = block_view_bytes(self.model.config, self.dtype)[:-1]  # the blocks, not the output layer
        return Schedule.for_batch(sizes, batch, start_layer, end_layer, max_views)

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

    def _result(self, plan: RunPlan, inputs: "_Inputs", image, views, group: int, max_views: int) -> Result:
        # The request that makes this result again: the seed, the chunk size and the size filled in.
        request = plan.request.replace(seed=inputs.seed, max_views=max_views, memory_budget=None)
        if request.kind == "panorama":  # "auto" sizes become the numbers they stood for
            request = request.replace(panorama_width=plan.width, panorama_height=plan.height)
        provenance = Provenance(self.model_name, self.weights, self.image_size,
                                str(self.dtype).removeprefix("torch."), self.device.type)  # fmt: skip
        return Result(image, views, request, plan.canvas, inputs.per_view, provenance, canvases_per_forward=group)

    # --- keyword front ends -----------------------------------------------------------------

    def panorama(self, classes=None, seed: int | None = None, sampling: Sampling | None = None,
                 layout="full", width: int | str | None = None, height: int | str | None = None,
                 max_views: int | None = None, on_progress: ProgressCallback | None = None,
                 save_to: str | os.PathLike | None = None, overwrite: bool = False) -> Result:  # fmt: skip
        """A 360-degree equirectangular panorama of ``width`` x ``height`` pixels (2:1, or
        ``"auto"``: the views' own angular resolution; one given alone sets the other,
        neither is 2000 x 1000). ``layout``: full, seed16, cube, a JSON file of views or a
        list of views (azimuth, elevation, roll, fov). ``save_to``/``overwrite``: as
        :meth:`run` takes them (an existing file refused before computing)."""
        request = _keyword_request(dict(kind="panorama", classes=classes, seed=seed, layout=layout,
                                        panorama_width=width, panorama_height=height, max_views=max_views),
                                   sampling, {"panorama_width": "width", "panorama_height": "height"})  # fmt: skip
        return self.run(request, on_progress, save_to=save_to, overwrite=overwrite)

    def bigimg(self, classes=None, seed: int | None = None, sampling: Sampling | None = None, cols: int | None = None,
               rows: int = 1, overlap: float = 0.5, wrap: str = "none", morph: Sequence[str] | None = None,
               max_views: int | None = None, on_progress: ProgressCallback | None = None,
               batch_size: int | None = None, save_to: str | os.PathLike | None = None,
               overwrite: bool = False) -> Result:  # fmt: skip
        """A large flat image from a ``rows`` x ``cols`` grid of overlapping tiles (6 across
        by default). ``batch_size`` is ``cols`` by the command's name (``--batch_size``):
        give one or the other.

        ``wrap`` ("none", "x", "y", "xy") makes opposite edges continue each other so the
        image tiles. ``morph``: two or more class specs blended from left to right across
        the canvas (one class mix per tile column) instead of one class everywhere."""
        if morph is not None:
            if classes is not None:
                raise UsageError("give either classes or morph, not both")
            if isinstance(morph, str) or not all(isinstance(spec, str) for spec in morph):
                raise UsageError(f"morph {morph!r} must be a list of two or more class specs")
            classes = "|".join(morph)
        if cols is not None and batch_size is not None and cols != batch_size:
            raise UsageError(f"give cols or batch_size (the same number: tiles across), not both ({cols} and {batch_size})")
        cols = next((value for value in (cols, batch_size) if value is not None), DEFAULTS["batch_size"])
        request = _keyword_request(dict(kind="bigimg", classes=classes, seed=seed, batch_size=cols, rows=rows,
                                        overlap=overlap, wrap=wrap, morph=morph is not None, max_views=max_views),
                                   sampling, {"batch_size": "cols" if batch_size is None else "batch_size"})  # fmt: skip
        return self.run(request, on_progress, save_to=save_to, overwrite=overwrite)

    def texture(self, classes=None, seed: int | None = None, sampling: Sampling | None = None, size: int = 512,
                overlap: float = 0.5, max_views: int | None = None,
                on_progress: ProgressCallback | None = None, save_to: str | os.PathLike | None = None,
                overwrite: bool = False) -> Result:  # fmt: skip
        """A square texture that tiles in both directions, about ``size`` pixels wide."""
        request = _keyword_request(dict(kind="texture", classes=classes, seed=seed, size=size, overlap=overlap,
                                        max_views=max_views), sampling, {})  # fmt: skip
        return self.run(request, on_progress, save_to=save_to, overwrite=overwrite)

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
                    "view_classes": mixes_json(inputs.per_view)}
        return views, metadata


@dataclass
class _Inputs:
    seed: int
    z: torch.Tensor  # (V, z_dim)
    class_vectors: torch.Tensor  # (V, num_classes)
    per_view: list


def _keyframe_sampling(sampling: Sampling, keyframe) -> Sampling:
    """The request's sampling with the keyframe's own z_mul and truncation, where it has them."""
    own = {name: getattr(keyframe, name) for name in ("z_mul", "truncation") if getattr(keyframe, name) is not None}
    return replace(sampling, **own) if own else sampling


def _runs(indices: list[int], key) -> Iterator[tuple[Any, list[int]]]:
    """``indices`` cut into runs of consecutive ones with equal ``key(index)``."""
    for value, run in itertools.groupby(indices, key):
        yield value, list(run)


def _between(stops: list[_Inputs], start: int, end: int, fraction: float) -> _Inputs:
    """The inputs ``fraction`` of the way from keyframe ``start``'s to ``end``'s: noise on
    the great circle, class vectors and mixes blended linearly; the seed is ``start``'s."""
    a, b = stops[start], stops[end]
    z = slerp(a.z, b.z, fraction)
    class_vectors = (1 - fraction) * a.class_vectors + fraction * b.class_vectors
    mixes = [blend_mixes(mix_a, mix_b, fraction) for mix_a, mix_b in zip(a.per_view, b.per_view)]
    return _Inputs(a.seed, z, class_vectors, mixes)


def blend_mixes(a: dict[int, float], b: dict[int, float], fraction: float) -> dict[int, float]:
    """The class mix ``fraction`` of the way from mix ``a`` to mix ``b``."""
    mix: dict[int, float] = {}
    for weights, share in ((a, 1 - fraction), (b, fraction)):
        for class_id, weight in weights.items():
            mix[class_id] = mix.get(class_id, 0.0) + share * weight
    return {class_id: weight for class_id, weight in mix.items() if weight > 0}


def _recorded_weights(weights: str | None) -> str | None:
    """``weights`` as a sidecar records it: a local checkpoint by its absolute path (so the
    result is reproduced from any directory), a published name or Hub repo as given."""
    if weights is None:
        return None
    text = str(weights).strip()
    if text in KNOWN_MODELS or text.startswith("hf:"):
        return text
    return str(Path(text).expanduser().resolve())


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


def morph_mix(specs: Sequence[str], position: float) -> dict[int, float]:
    """The class mix at ``position`` in [0, 1] along a piecewise-linear path through ``specs``."""
    if len(specs) < 2:
        raise UsageError(f"morphing needs at least two classes, got {len(specs)}")
    scaled = position * (len(specs) - 1)
    index = min(int(scaled), len(specs) - 2)
    return blend_mixes(resolve_classes(specs[index]), resolve_classes(specs[index + 1]), scaled - index)
