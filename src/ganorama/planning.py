"""Planning: everything decided about a request before the model runs.

A :class:`Planner` knows a model's architecture (no weights needed), the device and the
dtype. It turns a :class:`~ganorama.request.Request` into a :class:`RunPlan`: the canvas
(shared between requests that have the same one, so its sync operators and composition
plans are built once), the output size, the chunk size and the memory it needs, every
model-dependent check made with the caller's labels. The CLI, ``ganorama batch`` and the
web app plan through it before loading; :meth:`ganorama.Ganorama.run_many` runs the plans.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator

import torch

from ganorama import memory
from ganorama.canvas.layouts import dense_layout, dense_views_for, is_dense, views_of
from ganorama.canvas.plane import PlaneCanvas
from ganorama.canvas.sphere import SphereCanvas, auto_panorama_width, check_covers_sphere
from ganorama.canvas.tiling import check_overlap, texture_grid
from ganorama.errors import UsageError
from ganorama.request import AUTO, LAYOUT_NAMES, Request, check_layer_range, plain_label

# Most canvases put in one forward by ``batch="auto"``.
MAX_AUTO_BATCH = 16

Label = Callable[[str], str]


@dataclass(frozen=True)
class RunPlan:
    """A request checked against a model architecture: its canvas, output size, the
    chunking and the memory one forward of ``canvases`` such canvases needs."""

    request: Request
    canvas: Any  # SphereCanvas or PlaneCanvas: the same protocol
    width: int
    height: int
    memory: memory.MemoryPlan
    canvases: int = 1

    @property
    def max_views(self) -> int:
        return self.memory.max_views

    def key(self) -> tuple:
        """What requests must share to go through one forward together: the canvas,
        output size, layer range, truncation and chunking (classes and seeds may differ)."""
        request = self.request
        return (self.canvas.key(), self.width, self.height, request.start_layer, request.end_layer,
                request.truncation, self.max_views)  # fmt: skip

    def group_limit(self, batch: int | str) -> int:
        """How many canvases like this one go in one forward: ``batch``, or for ``"auto"``
        as many as one chunk of ``max_views`` views holds (at least 1, at most MAX_AUTO_BATCH)."""
        if batch == AUTO:
            return max(1, min(MAX_AUTO_BATCH, self.max_views // self.canvas.num_views))
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise UsageError(f"batch {batch!r} is invalid; allowed: auto or a whole number >= 1")
        return batch


@dataclass
class Planner:
    """Plans requests for one architecture ``config`` on ``device`` in ``dtype``; equal
    canvases are made once and shared by every plan (and so by every run) it makes."""

    config: Any  # BigGANConfig
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    canvases: dict = field(default_factory=dict, repr=False)
    _covered: set = field(default_factory=set, repr=False)  # keys of custom layouts checked to cover the sphere
    _memory_plans: dict = field(default_factory=dict, repr=False)
    # Set by the generator that holds the model: its weights are then in the process's memory.
    weights_loaded: bool = False
    _process_measured: dict = field(default_factory=dict, repr=False)  # weights_loaded -> bytes
    _cost: dict = field(default_factory=dict, repr=False)  # FLOPs per view and this device's matmul rate

    def plan(self, request: Request, label: Label = plain_label) -> RunPlan:
        """Check ``request`` against the architecture and plan its run: layer range,
        overlap on the feature grids, output size, coverage of a custom layout, chunk
        size and memory. Raises UsageError with one line naming the value (spelled by
        ``label``) and what is allowed."""
        check_layer_range(request.start_layer, request.end_layer, self.config.num_blocks, label)
        canvas, width, height = self._canvas_for(request, label)
        return RunPlan(request, canvas, width, height, self._memory(request, canvas, width, height, 1, label))

    def for_group(self, plan: RunPlan, canvases: int, label: Label = plain_label) -> RunPlan:
        """``plan`` for one forward of ``canvases`` such canvases (its memory and chunking)."""
        if canvases == plan.canvases:
            return plan
        return replace(plan, memory=self._memory(plan.request, plan.canvas, plan.width, plan.height, canvases, label),
                       canvases=canvases)  # fmt: skip

    def group_for(self, plan: RunPlan, batch: int | str, label: Label = plain_label) -> RunPlan:
        """``plan`` for as many canvases like its own as ``batch`` puts in one forward:
        what a run of such requests must fit."""
        return self.for_group(plan, plan.group_limit(batch), label)

    def check_fits(self, plan: RunPlan) -> None:
        """UsageError (one line: needed, available, what to change) unless ``plan`` fits
        in the device's memory now."""
        memory.check_fits(plan.memory, self.device)

    def preflight(self, request: Request, batch: int | str = 1, label: Label = plain_label,
                  count: int | None = None) -> RunPlan:  # fmt: skip
        """``request``'s plan, after refusing (UsageError, one line) what cannot run: every
        architecture check, and whether a forward of as many such canvases as ``batch``
        groups (never more than the ``count`` results of the run) fits in the device's
        memory now. Everything checked before anything loads."""
        plan = self.plan(request, label)
        canvases = plan.group_limit(batch)
        self.check_fits(self.for_group(plan, canvases if count is None else max(1, min(canvases, count)), label))
        return plan

    def seconds_estimate(self, plan: RunPlan, count: int = 1) -> float:
        """About how many seconds ``count`` results like ``plan`` take here, from the
        architecture's counted FLOPs and a short matmul on the device in the dtype (both
        measured once per planner, before any weights load): :mod:`ganorama.models.cost`."""
        from ganorama.models import cost

        if not self._cost:
            self._cost["flops"] = cost.forward_flops(self.config)
            self._cost["rate"] = cost.matmul_rate(self.device, self.dtype)
        return cost.forward_seconds(self._cost["flops"] * plan.canvas.num_views * count, self._cost["rate"])

    def _memory(self, request: Request, canvas, width: int, height: int, canvases: int, label: Label):
        # Requests that differ only in classes and seeds (a batch's thousands of rows) need
        # the same memory: worked out once.
        key = (canvas.key(), width, height, canvases, request.start_layer, request.end_layer, request.max_views,
               request.memory_budget)  # fmt: skip
        if key not in self._memory_plans:
            self._memory_plans[key] = self._memory_plan(request, canvas, width, height, canvases, label)
        return self._memory_plans[key]

    def _memory_plan(self, request: Request, canvas, width: int, height: int, canvases: int, label: Label):
        return memory.plan_memory(self.config, self.dtype, self.device, canvas.num_views * canvases,
                                  request.start_layer, request.end_layer,
                                  composition_bytes=canvas.composition_bytes(height, width),
                                  sync_bytes=canvas.sync_bytes(self._synced_resolutions(request)),
                                  max_views=request.max_views, budget=request.memory_budget, label=label,
                                  process_bytes=self._process_bytes(request))  # fmt: skip

    def _process_bytes(self, request: Request) -> int:
        """What the process holds besides the run (see :func:`memory.process_overhead`),
        measured once for each state of the weights: every plan then counts the same."""
        if request.memory_budget is None:
            return 0
        if self.weights_loaded not in self._process_measured:
            self._process_measured[self.weights_loaded] = memory.process_overhead(self.config, self.dtype,
                                                                                  self.device, self.weights_loaded)
        return self._process_measured[self.weights_loaded]

    def _synced_resolutions(self, request: Request) -> list[int]:
        """Feature-map sizes the synced blocks' outputs have: where sync operators are built."""
        return self.config.block_resolutions()[request.start_layer : request.end_layer]

    def _canvas_for(self, request: Request, label: Label):
        """The request's canvas (shared with earlier equal ones) and output size."""
        size = self.config.output_dim
        if request.kind == "panorama":
            canvas = self._shared(SphereCanvas(self._sphere_views(request, size, label)))
            # Named and dense layouts cover the sphere by construction (their tests check
            # it): only a user's own views are checked, which takes seconds for hundreds.
            if request.layout not in LAYOUT_NAMES and not is_dense(request.layout):
                self._check_coverage(canvas, label)
            width, height = _panorama_size(request, size, canvas, label)
            return canvas, width, height
        synced = self._synced_resolutions(request)
        # The feature grids before the pixel grid: that message names the block and the
        # overlaps that work, which says more than "not a whole number of pixels".
        check_overlap(request.overlap, size, synced, first_block=request.start_layer)
        if request.kind == "texture":
            tiles = texture_grid(request.size, size, request.overlap)
            canvas = PlaneCanvas(rows=tiles, cols=tiles, tile_size=size, overlap=request.overlap, wrap="xy")
        else:
            canvas = PlaneCanvas(rows=request.rows, cols=request.batch_size, tile_size=size, overlap=request.overlap,
                                 wrap=request.wrap)  # fmt: skip
        canvas = self._shared(canvas)
        return canvas, canvas.width, canvas.height

    @staticmethod
    def _sphere_views(request: Request, size: int, label: Label):
        """The request's (already checked) layout as views; a dense layout's follow the
        model size and the width asked for."""
        if not is_dense(request.layout):
            return views_of(request.layout)
        width = request.panorama_width
        if width == AUTO and request.panorama_height != AUTO:
            width = 2 * request.panorama_height
        return dense_layout(dense_views_for(request.layout, size, width, label("layout")))

    def _shared(self, canvas):
        return self.canvases.setdefault(canvas.key(), canvas)

    def _check_coverage(self, canvas, label: Label) -> None:
        """A custom layout must leave no hole; checked once per canvas."""
        if canvas.key() not in self._covered:
            check_covers_sphere(canvas.views, label("layout"))
            self._covered.add(canvas.key())


def _panorama_size(request: Request, image_size: int, canvas, label: Label) -> tuple[int, int]:
    width, height = request.panorama_width, request.panorama_height
    if width == AUTO and height == AUTO:
        width = auto_panorama_width(image_size, canvas.views)
    if width == AUTO:
        width = 2 * height
    if height == AUTO:
        if width % 2:
            raise UsageError(f"{label('panorama_width')} {width} is odd; with {label('panorama_height')} auto "
                             "the width must be even (the height is half of it)")
        height = width // 2
    return width, height


def forward_groups(plans: Iterable[RunPlan], batch: int | str) -> Iterator[list[RunPlan]]:
    """Runs of consecutive ``plans`` that go through one forward together: equal keys, at
    most ``batch`` long (see :meth:`RunPlan.group_limit`). Lazy: a plan is looked at only
    when its turn comes."""
    return runs_of(plans, lambda plan: (plan.key(), plan.group_limit(batch)))


def runs_of(items: Iterable, key_and_limit: Callable) -> Iterator[list]:
    """Runs of consecutive ``items`` with equal keys, at most ``limit`` long, where
    ``key_and_limit(item)`` gives ``(key, limit)`` (items with equal keys have equal limits)."""
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
