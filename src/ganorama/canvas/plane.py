"""The plane canvas: a rows x cols grid of overlapping square tiles on one flat image.

Tile (row, col) is view ``row * cols + col`` and sits at pixel offset
``(row * stride, col * stride)`` with ``stride = tile_size * (1 - overlap)``. Because the
offsets are whole numbers of feature cells at every synced layer, tiles that cover the
same canvas cell see exactly the same cell: the sync is an exact mean, no resampling.
With ``wrap`` the canvas is a torus in that direction (coordinates modulo its size), so
the composed image tiles seamlessly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ganorama.canvas.sync import SyncOperator, operator_bytes, operators_bytes
from ganorama.canvas.tiling import DEFAULT_OVERLAP, check_grid, check_overlap, check_wrap, stride_for
from ganorama.errors import UsageError

# --- the canvas ------------------------------------------------------------------------


@dataclass
class PlaneCanvas:
    """A grid of overlapping tiles; builds (and caches) its sync operators per feature
    size and device, and blends the tile images into one flat canvas.

    A wrapped direction with a single tile is allowed: the tile then overlaps itself
    across the wrapped edge, its own features are synced with each other and the canvas
    is one stride wide (a self-tiling patch)."""

    rows: int
    cols: int
    tile_size: int
    overlap: float = DEFAULT_OVERLAP
    wrap: str = "none"
    _operators: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _weights: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # What the image is, for writers and viewers: a flat picture, no 360 metadata.
    projection = "flat"

    def __post_init__(self) -> None:
        check_grid(self.rows, self.cols)
        if isinstance(self.tile_size, bool) or not isinstance(self.tile_size, int) or self.tile_size < 1:
            raise UsageError(f"tile size {self.tile_size!r} is invalid; allowed: a whole number >= 1")
        check_overlap(self.overlap, self.tile_size)
        check_wrap(self.wrap, self.overlap)

    # --- geometry ----------------------------------------------------------------------

    @property
    def stride(self) -> int:
        """Pixels between neighbouring tile origins."""
        return int(round(stride_for(self.tile_size, self.overlap)))

    @property
    def num_views(self) -> int:
        return self.rows * self.cols

    @property
    def wrap_x(self) -> bool:
        return "x" in self.wrap

    @property
    def wrap_y(self) -> bool:
        return "y" in self.wrap

    @property
    def width(self) -> int:
        """Canvas width in pixels: the tiles' extent, or one period when wrapped in x."""
        return self._extent(self.cols, self.wrap_x)

    @property
    def height(self) -> int:
        return self._extent(self.rows, self.wrap_y)

    def _extent(self, count: int, wrapped: bool) -> int:
        return self.stride * count if wrapped else self.stride * (count - 1) + self.tile_size

    @property
    def sheet_columns(self) -> int:
        """A contact sheet of the tiles keeps the grid's columns."""
        return self.cols

    def key(self) -> tuple:
        """Equal for canvases that sync and compose alike: the one key by which canvases
        are shared and results put in one forward."""
        return ("plane", self.rows, self.cols, self.tile_size, self.overlap, self.wrap)

    def describe(self) -> dict:
        """What a result's sidecar records of the canvas: its grid."""
        return {"rows": self.rows, "cols": self.cols, "overlap": self.overlap, "wrap": self.wrap}

    def output_size(self) -> tuple[int, int]:
        """(height, width) of the composed image."""
        return self.height, self.width

    def view_index(self, row: int, col: int) -> int:
        return row * self.cols + col

    def tile_columns(self) -> list[int]:
        """The grid column of each view, in view order (e.g. to vary something left to right)."""
        return [view % self.cols for view in range(self.num_views)]

    def tile_origins(self) -> list[tuple[int, int]]:
        """(top, left) pixel offset of each view's tile, in view order (before wrapping)."""
        return [(row * self.stride, col * self.stride) for row in range(self.rows) for col in range(self.cols)]

    def check_feature_sizes(self, resolutions: Sequence[int], first_block: int | None = None) -> None:
        """Refuse (UsageError) an overlap whose stride is not a whole number of cells on the
        feature grid of every synced block (``resolutions``: cells per tile side, in block
        order starting at block ``first_block``)."""
        check_overlap(self.overlap, self.tile_size, resolutions, first_block)

    # --- sync --------------------------------------------------------------------------

    def sync_operator(self, height: int, width: int, device=None) -> SyncOperator:
        """Each feature of an (h, w) map becomes the mean of the features of all tiles
        covering the same canvas cell; built once per (h, w, device)."""
        key = (height, width, str(torch.device(device or "cpu")))
        if key not in self._operators:
            self._operators[key] = self._build_sync_operator(height, width, device)
        return self._operators[key]

    def sync_bytes(self, resolutions) -> int:
        """Memory of the cached sync operators at these feature-map sizes, estimated before
        building them: each feature keeps itself and one tap of every other tile covering its
        cell (about (tile / stride)^2 - 1 of them), all tiles built at once."""
        overlapping = max(1.0, self.tile_size / max(self.stride, 1)) ** 2
        sizes = []
        for size in set(resolutions):
            rows = self.num_views * size * size
            sizes.append(operator_bytes(rows, overlapping, rows))
        return operators_bytes(sizes)

    def feature_cells(self, height: int, width: int) -> torch.Tensor:
        """(V*h*w,) flat canvas-cell index of every tile feature, in the operator's
        ``view * h * w + row * w + column`` order. Raises UsageError off the feature grid."""
        if height != width:
            # Tiles are square: a non-square map would need separate strides per axis.
            raise ValueError(f"plane canvas expects square feature maps, got {height}x{width}")
        check_overlap(self.overlap, self.tile_size, (height,))
        step = self.stride * height // self.tile_size  # tile offset in feature cells
        cells_high = self.height * height // self.tile_size
        cells_wide = self.width * width // self.tile_size
        rows = self._axis_cells(self.rows, step, height, cells_high, self.wrap_y)  # (rows, h)
        columns = self._axis_cells(self.cols, step, width, cells_wide, self.wrap_x)  # (cols, w)
        # (rows, cols, h, w): tile (r, c), local cell (i, j) -> canvas rows[r, i], columns[c, j]
        cells = rows[:, None, :, None] * cells_wide + columns[None, :, None, :]
        return cells.reshape(-1)

    @staticmethod
    def _axis_cells(count: int, step: int, size: int, canvas_size: int, wrapped: bool) -> torch.Tensor:
        """(count, size): canvas coordinate of local cell k of tile n along one axis."""
        coordinates = torch.arange(count)[:, None] * step + torch.arange(size)[None, :]
        return coordinates % canvas_size if wrapped else coordinates

    def _build_sync_operator(self, height: int, width: int, device) -> SyncOperator:
        cells = self.feature_cells(height, width)
        target, source = pairs_sharing_a_cell(cells)
        return SyncOperator.from_samples(
            self.num_views, height, width, target, source[:, None], torch.ones(len(target), 1), device
        )

    # --- composition -------------------------------------------------------------------

    def blend_weights(self, device=None) -> torch.Tensor:
        """(S, S) per-tile weight: a separable tent, 1 at the centre falling linearly toward
        the border, evaluated at pixel centres so it is positive on every tile pixel (a
        border pixel covered by no other tile still comes out, never black). With overlap
        <= 0.5 the normalised blend is a linear cross-fade across each overlap."""
        key = str(torch.device(device or "cpu"))
        if key not in self._weights:
            centres = (torch.arange(self.tile_size, dtype=torch.float32, device=device) + 0.5) / self.tile_size
            tent = 1 - (2 * centres - 1).abs()
            self._weights[key] = tent[:, None] * tent[None, :]
        return self._weights[key]

    def compose(self, views: torch.Tensor, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """Blend the tiles (V, C, S, S) into the canvas (C, height, width), float32. The
        size is the grid's own; ``height`` and ``width``, when given, must be it."""
        if (height, width) not in ((None, None), self.output_size()):
            raise ValueError(f"a {self.rows}x{self.cols} tile canvas is {self.height}x{self.width}, not {height}x{width}")
        expected = (self.num_views, self.tile_size, self.tile_size)
        if views.dim() != 4 or (views.shape[0], views.shape[2], views.shape[3]) != expected:
            raise ValueError(f"expected views of shape ({self.num_views}, C, {self.tile_size}, {self.tile_size}), "
                             f"got {tuple(views.shape)}")
        weight = self.blend_weights(views.device)
        channels, size = views.shape[1], self.tile_size
        # Tile by tile into an unwrapped canvas whose last channel sums the weights, so
        # normalising needs no second pass and memory holds one canvas, not a copy of
        # every tile (which at 64 tiles of 512 px would be gigabytes).
        extent = (self._extent(self.rows, False), self._extent(self.cols, False))
        canvas = views.new_zeros(channels + 1, *extent, dtype=torch.float32)
        for view, (top, left) in enumerate(self.tile_origins()):
            region = canvas[:, top : top + size, left : left + size]
            region[:channels].add_(views[view].float() * weight)
            region[channels].add_(weight)
        if self.wrap_y:
            canvas = _wrap_sum(canvas, dim=1, period=self.height)
        if self.wrap_x:
            canvas = _wrap_sum(canvas, dim=2, period=self.width)
        return canvas[:-1] / canvas[-1:]

    def composition_bytes(self, height: int | None = None, width: int | None = None) -> int:
        """Memory of composing (estimated before generating): the unwrapped canvas with a
        weight channel, its wrapped sum and the image (the grid decides the size)."""
        unwrapped = 4 * self._extent(self.rows, False) * self._extent(self.cols, False)
        return 4 * (2 * unwrapped + 3 * self.width * self.height)


def _wrap_sum(tensor: torch.Tensor, dim: int, period: int) -> torch.Tensor:
    """Add every ``period``-long slice along ``dim`` onto the first (coordinates modulo period)."""
    length = tensor.shape[dim]
    padding = [0, 0] * (tensor.dim() - 1 - dim) + [0, -length % period]
    padded = F.pad(tensor, padding)
    shape = padded.shape[:dim] + (padded.shape[dim] // period, period) + padded.shape[dim + 1 :]
    return padded.reshape(shape).sum(dim)


def pairs_sharing_a_cell(cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ordered pairs (a, b), a != b, with ``cells[a] == cells[b]``: (K,) targets and
    (K,) sources. Vectorised: entries are grouped by cell, then each is paired with the
    member ``shift`` places further round its group for every shift 1 .. group size - 1."""
    order = torch.argsort(cells, stable=True)
    _, counts = torch.unique_consecutive(cells[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    group_start = starts.repeat_interleave(counts)  # per sorted position
    group_size = counts.repeat_interleave(counts)
    position = torch.arange(len(cells)) - group_start
    targets, sources = [torch.empty(0, dtype=torch.long)], [torch.empty(0, dtype=torch.long)]
    for shift in range(1, int(counts.max()) if len(counts) else 1):
        member = group_size > shift
        partner = group_start[member] + (position[member] + shift) % group_size[member]
        targets.append(order[member])
        sources.append(order[partner])
    return torch.cat(targets), torch.cat(sources)
