"""The sphere canvas: camera layouts, the sphere sync operator, equirect composition."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.canvas.layouts import DEFAULT_LAYOUT, View, full_sphere_layout, layout_views
from ganorama.canvas.sync import SyncOperator, operator_bytes, operators_bytes
from ganorama.errors import UsageError


# Directions sampled when checking that a layout leaves no hole (about 0.7 degree apart).
_COVERAGE_GRID = (256, 512)


def check_covers_sphere(views, label: str) -> None:
    """UsageError naming directions that lie inside no view (where the panorama would
    have a hole), sampled on a fine equirect grid."""
    height, width = _COVERAGE_GRID
    canvas = SphereCanvas(list(views))
    covered = torch.zeros(height * width, dtype=torch.bool)
    # View by view over its cap: all views at once held views x grid directions (2 GB for
    # a dense layout's 334 views).
    for flat, coords in canvas.view_pixels(height, width):
        covered[flat[coords.abs().amax(dim=-1) < 1]] = True
    if bool(covered.all()):
        return
    lon, lat = geometry.equirect_lonlat(height, width)
    missing = torch.nonzero(~covered, as_tuple=True)[0]
    # Name the hole's extreme directions: where a user would add a view.
    examples = []
    for index in (missing[lat.reshape(-1)[missing].argmax()], missing[lat.reshape(-1)[missing].argmin()]):
        text = f"lon {math.degrees(float(lon.reshape(-1)[index])):.0f} lat {math.degrees(float(lat.reshape(-1)[index])):.0f}"
        if text not in examples:
            examples.append(text)
    share = len(missing) / covered.numel()
    raise UsageError(f"{label} leaves {share:.1%} of directions outside every view (e.g. {' and '.join(examples)}, "
                     "degrees); add views there")


def auto_panorama_width(image_size: int, views) -> int:
    """The equirect width that matches the views' angular resolution: about
    ``image_size * 360 / fov`` for the narrowest view (512 for 128 px views of 90 degrees),
    rounded to an even number so the height is exactly half."""
    narrowest = min(view.fov for view in views)
    width = int(round(image_size * 360.0 / narrowest))
    return max(2, width + width % 2)


def _view_solid_angle(fov_degrees: float) -> float:
    """Solid angle (steradians) of a square pinhole view with this field of view."""
    half = math.tan(math.radians(fov_degrees) / 2)
    return 4 * math.asin(half * half / (1 + half * half))


def _pixel_index_dtype(height: int, width: int) -> torch.dtype:
    """Half the memory of int64 for a cached plan's pixel indices, wherever they fit."""
    return torch.int32 if height * width < 2**31 else torch.int64


@dataclass(frozen=True)
class CompositionPlan:
    """How each equirect pixel is made from the views of one size: a weighted sum of
    bilinear taps (four per view it lies in, weights already divided by the pixel's total
    blend weight), as bags of ``embedding_bag``: each output pixel is computed once."""

    height: int
    width: int
    view_size: int
    offsets: torch.Tensor  # (H*W + 1,) int32: pixel p's taps are offsets[p]:offsets[p + 1]
    taps: torch.Tensor  # (nnz,) int32: flat index view * S * S + row * S + column of a view pixel
    weights: torch.Tensor  # (nnz,) float32
    interior_coverage: float  # fraction of output pixels with a positive blend weight


@dataclass
class SphereCanvas:
    """A set of views covering the sphere; builds (and caches) its sync operators and
    composition plans, so each is computed once per resolution and device."""

    views: Sequence[View] = field(default_factory=full_sphere_layout)
    _operators: dict = field(default_factory=dict, init=False, repr=False)
    _plans: dict = field(default_factory=dict, init=False, repr=False)

    # What the image is, for writers (GPano metadata) and viewers.
    projection = "equirectangular"
    # A contact sheet of the views: as many columns as it likes.
    sheet_columns = None

    @classmethod
    def from_layout(cls, layout=DEFAULT_LAYOUT) -> "SphereCanvas":
        """A canvas from a layout name, a JSON file of views, or a list of views."""
        return cls(layout_views(layout))

    def key(self) -> tuple:
        """Equal for canvases that sync and compose alike (the same views): the one key
        by which canvases are shared and results put in one forward."""
        if getattr(self, "_key", None) is None:  # asked once per result: made once
            self._key = ("sphere", json.dumps([vars(view) for view in self.views]))
        return self._key

    def describe(self) -> dict:
        """What a result's sidecar records of the canvas: its views."""
        return {"views": [vars(view) for view in self.views]}

    def tile_columns(self) -> list[int]:
        """Every view in column 0: a sphere has no columns to blend classes across."""
        return [0] * self.num_views

    def composition_bytes(self, height: int, width: int) -> int:
        """Memory of the cached composition plan and the composed image, estimated
        before building it: the views cover the sphere about ``coverage`` times, each
        covered pixel costing four taps (an index and a weight each) in the plan and, while
        it is built, an index, a weight and the view coordinates of the first pass."""
        coverage = self._coverage()
        pixels = height * width
        per_covered_pixel = 4 * (4 + 4) + 4 + 4 + 8
        # Per pixel: its offset, the image (3 x 4), and while building: directions, one
        # view's coordinates and masks, the running totals and counts.
        return int(pixels * (coverage * per_covered_pixel + 4 + 12 + 12 + 12 + 4 + 3 * 8 + 8))

    def view_pixels(self, height: int, width: int, device=None):
        """Per view, the pixels of a W x H equirect image it sees (borders included): their
        flat indices (K,) and grid_sample coordinates in the view (K, 2). Lazy, one view at
        a time over its cap only: time and memory follow the views' area, not views x image
        (a dense layout's 334 views at 2048 x 1024 took 20 s and, through the allocator's
        fragments, gigabytes)."""
        rotation, fov = self.cameras(device=device, dtype=torch.float32)
        centre_lon, centre_lat, radius = self._caps()
        for view in range(self.num_views):
            rows, columns = geometry.equirect_cap_window(centre_lon[view], centre_lat[view], radius[view], height,
                                                         width, device=device)  # fmt: skip
            directions = geometry.lonlat_to_direction(geometry.column_longitude(columns.float(), width)[None, :],
                                                      geometry.row_latitude(rows.float(), height)[:, None])  # fmt: skip
            coords, in_front = geometry.project_to_views(directions.reshape(-1, 3), rotation[view : view + 1],
                                                         fov[view : view + 1], 1, 1)  # fmt: skip
            coords, in_front = coords[0], in_front[0]  # (K, 2), (K,)
            inside = in_front & (coords.abs().amax(dim=-1) <= 1)
            yield (rows[:, None] * width + columns[None, :]).reshape(-1)[inside], coords[inside]

    def _caps(self) -> tuple[list[float], list[float], list[float]]:
        """Each view's centre (lon, lat) and the radius of the cap it sees, in radians."""
        angles = torch.tensor([[v.azimuth, v.elevation, v.fov] for v in self.views], dtype=torch.float64)
        angles = angles.mul_(math.pi / 180)
        radius = geometry.view_radius(angles[:, 2])
        return angles[:, 0].tolist(), angles[:, 1].tolist(), radius.tolist()

    def sync_bytes(self, resolutions) -> int:
        """Memory of the cached sync operators at these feature-map sizes (h = w), estimated
        before building them: each feature keeps itself and four bilinear taps of every other
        view holding its direction (about ``coverage - 1`` of them), built view by view."""
        others = self._coverage() - 1
        sizes = [operator_bytes(self.num_views * size * size, 1 + 4 * others, size * size) for size in set(resolutions)]
        # The cameras' rays at the largest size, float64, while building.
        rays = 24 * self.num_views * max(resolutions, default=0) ** 2
        return operators_bytes(sizes) + rays

    def _coverage(self) -> float:
        """How many views see a direction, on average over the sphere."""
        return sum(_view_solid_angle(view.fov) for view in self.views) / (4 * math.pi)

    @property
    def num_views(self) -> int:
        return len(self.views)

    def cameras(self, device=None, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-to-world rotations (V, 3, 3) and horizontal fov (V,) in radians."""
        angles = torch.tensor(
            [[v.azimuth, v.elevation, v.roll, v.fov] for v in self.views], device=device, dtype=dtype
        ).mul_(math.pi / 180)
        return geometry.view_rotation(angles[:, 0], angles[:, 1], angles[:, 2]), angles[:, 3]

    # --- sync ------------------------------------------------------------------------

    def sync_operator(self, height: int, width: int, device=None) -> SyncOperator:
        """The seed's rule, built once per (h, w, device): each feature of view i becomes
        the mean of itself and the bilinear samples of every other view j in which its
        direction lies in front of the camera and within j's pixel-centre range."""
        key = (height, width, str(torch.device(device or "cpu")))
        if key not in self._operators:
            self._operators[key] = self._build_sync_operator(height, width, device)
        return self._operators[key]

    def _build_sync_operator(self, height: int, width: int, device) -> SyncOperator:
        blocks = self._sync_samples(height, width)
        return SyncOperator.from_sample_blocks(self.num_views, height, width, blocks, device)

    def _sync_samples(self, height: int, width: int):
        """The sync's samples view by view (lazily: one view's alive at once), as
        :meth:`SyncOperator.from_sample_blocks` takes them."""
        rotation, fov = self.cameras()
        rays = geometry.view_rays(rotation, fov, height, width)  # (V, h, w, 3)
        pixels_per_view = height * width
        overlapping = self._overlapping_views()
        # One iteration per target view, vectorised over the source views whose caps meet
        # its own (all views would make a dense layout's build quadratic in views).
        for target_view in range(self.num_views):
            neighbours = overlapping[target_view]
            coords, in_front = geometry.project_to_views(rays[target_view], rotation[neighbours], fov[neighbours],
                                                         height, width)  # fmt: skip
            pixel = geometry.normalised_to_pixel(coords, height, width)  # (N, h, w, 2)
            column, row = pixel[..., 0], pixel[..., 1]
            inside = in_front & (column >= 0) & (column <= width - 1) & (row >= 0) & (row <= height - 1)
            neighbour, target_row, target_column = torch.nonzero(inside, as_tuple=True)
            taps, tap_weights = geometry.bilinear_taps(column[inside], row[inside], height, width)
            sources = neighbours[neighbour][:, None] * pixels_per_view + taps
            first = target_view * pixels_per_view
            yield first, first + pixels_per_view, first + target_row * width + target_column, sources, tap_weights

    def _overlapping_views(self) -> list[torch.Tensor]:
        """Per view, the other views whose caps meet its own (V x (N_v,) indices): the only
        ones that can see a direction it sees."""
        lon, lat, radius = (torch.tensor(values, dtype=torch.float64) for values in self._caps())
        centres = geometry.lonlat_to_direction(lon, lat)  # (V, 3)
        apart = torch.acos((centres @ centres.T).clamp(-1, 1))
        # A little slack: the caps' pixel-centre ranges are a hair narrower than the caps.
        meets = apart <= radius[:, None] + radius[None, :] + 1e-6
        meets.fill_diagonal_(False)
        return [torch.nonzero(row, as_tuple=True)[0] for row in meets]

    # --- composition -----------------------------------------------------------------

    def composition_plan(self, height: int, width: int, view_size: int, device=None) -> CompositionPlan:
        """The plan for composing views of ``view_size`` pixels into ``height`` x ``width``;
        built once per (height, width, view size, device)."""
        key = (height, width, view_size, str(torch.device(device or "cpu")))
        if key not in self._plans:
            self._plans[key] = self._build_composition_plan(height, width, view_size, device)
        return self._plans[key]

    def _build_composition_plan(self, height: int, width: int, view_size: int, device) -> CompositionPlan:
        if height < 1 or width < 1:
            raise UsageError(f"panorama size {width}x{height} is invalid; width and height must be >= 1")
        # First pass, view by view over its cap: which pixels it covers, where and with
        # what weight.
        pixels, view_coords, weights = [], [], []
        total = torch.zeros(height * width, device=device)
        count = torch.zeros(height * width, dtype=torch.int64, device=device)
        interior = torch.zeros(height * width, dtype=torch.bool, device=device)
        for flat, coords in self.view_pixels(height, width, device):
            weight = geometry.border_weight(coords)
            interior[flat[weight > 0]] = True
            # A pixel lying exactly on view borders only still takes those views, equally
            # weighted, rather than coming out black.
            weight = weight + 1e-9
            total.index_add_(0, flat, weight)
            count[flat] += 1
            pixels.append(flat.to(_pixel_index_dtype(height, width)))
            view_coords.append(coords)
            weights.append(weight)
        if not (total > 0).all():
            missing = int((total <= 0).sum())
            raise UsageError(f"layout leaves {missing} of {height * width} panorama pixels outside every view")
        # Second pass: each pixel's taps side by side, view after view (a pixel is in a
        # view at most once, so one scatter per view places them).
        corners = 4
        first_slot = torch.zeros(height * width + 1, dtype=torch.int64, device=device)  # in (pixel, view) pairs
        first_slot[1:] = count.cumsum(0)
        taps = torch.empty(int(first_slot[-1]), corners, dtype=torch.int32, device=device)
        tap_weights = torch.empty(int(first_slot[-1]), corners, device=device)
        filled = torch.zeros_like(count)
        for view in range(self.num_views):
            flat, weight, coords = pixels[view].long(), weights[view], view_coords[view]
            pixels[view] = weights[view] = view_coords[view] = None  # each view's first pass goes once used
            column_row = geometry.normalised_to_pixel(coords, view_size, view_size)
            indices, bilinear = geometry.bilinear_taps(column_row[:, 0], column_row[:, 1], view_size, view_size)
            slot = first_slot[flat] + filled[flat]
            filled[flat] += 1
            taps[slot] = (indices + view * view_size * view_size).int()
            tap_weights[slot] = bilinear * (weight / total[flat])[:, None]
        offsets = (first_slot * corners).int()
        return CompositionPlan(height, width, view_size, offsets, taps.view(-1), tap_weights.view(-1),
                               float(interior.float().mean()))  # fmt: skip

    def compose(self, images: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Blend V view images (V, C, S, S) into one equirect image (C, height, width),
        float32 (in height-width-channel memory, as images are written)."""
        if images.shape[0] != self.num_views:
            raise ValueError(f"expected {self.num_views} views, got {images.shape[0]}")
        plan = self.composition_plan(height, width, images.shape[-1], images.device)
        channels = images.shape[1]
        # (V, C, S, S) -> (V*S*S, C): a view of channels-last images (the model's layout).
        table = images.float().permute(0, 2, 3, 1).reshape(-1, channels)
        output = F.embedding_bag(plan.taps, table, plan.offsets, mode="sum", per_sample_weights=plan.weights,
                                 include_last_offset=True)  # fmt: skip
        return output.view(height, width, channels).permute(2, 0, 1)
