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
from ganorama.canvas.sync import SyncOperator
from ganorama.errors import UsageError


# Directions sampled when checking that a layout leaves no hole (about 0.7 degree apart).
_COVERAGE_GRID = (256, 512)


def check_covers_sphere(views, label: str) -> None:
    """UsageError naming directions that lie inside no view (where the panorama would
    have a hole), sampled on a fine equirect grid."""
    height, width = _COVERAGE_GRID
    canvas = SphereCanvas(list(views))
    rotation, fov = canvas.cameras(dtype=torch.float32)
    directions = geometry.equirect_directions(height, width).reshape(-1, 3)
    coords, in_front = geometry.project_to_views(directions, rotation, fov, 1, 1)
    covered = (in_front & (coords.abs().amax(dim=-1) < 1)).any(dim=0)
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
        it is built, an index and a weight of the first pass."""
        coverage = sum(_view_solid_angle(view.fov) for view in self.views) / (4 * math.pi)
        pixels = height * width
        per_covered_pixel = 4 * (4 + 4) + 4 + 4
        # Per pixel: its offset, the image (3 x 4), and while building: directions, one
        # view's coordinates and masks, the running totals and counts.
        return int(pixels * (coverage * per_covered_pixel + 4 + 12 + 12 + 12 + 4 + 3 * 8 + 8))

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
        rotation, fov = self.cameras()
        rays = geometry.view_rays(rotation, fov, height, width)  # (V, h, w, 3)
        pixels_per_view = height * width
        targets, sources, tap_weights = [], [], []
        # One iteration per target view, vectorised over all source views and pixels.
        for target_view in range(self.num_views):
            coords, in_front = geometry.project_to_views(rays[target_view], rotation, fov, height, width)
            pixel = geometry.normalised_to_pixel(coords, height, width)  # (V, h, w, 2)
            column, row = pixel[..., 0], pixel[..., 1]
            inside = in_front & (column >= 0) & (column <= width - 1) & (row >= 0) & (row <= height - 1)
            inside[target_view] = False
            source_view, target_row, target_column = torch.nonzero(inside, as_tuple=True)
            taps, tap_weight = geometry.bilinear_taps(column[inside], row[inside], height, width)
            sources.append(source_view[:, None] * pixels_per_view + taps)
            tap_weights.append(tap_weight)
            targets.append(target_view * pixels_per_view + target_row * width + target_column)
        return SyncOperator.from_samples(
            self.num_views, height, width, torch.cat(targets), torch.cat(sources), torch.cat(tap_weights), device
        )

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
        rotation, fov = self.cameras(device=device, dtype=torch.float32)
        directions = geometry.equirect_directions(height, width, device=device).reshape(-1, 3)

        def project(view: int, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            coords, in_front = geometry.project_to_views(points, rotation[view : view + 1], fov[view : view + 1], 1, 1)
            return coords[0], in_front[0]

        # First pass, per view (memory O(H * W)): which pixels it covers, with what weight.
        pixels, weights = [], []
        total = torch.zeros(height * width, device=device)
        count = torch.zeros(height * width, dtype=torch.int64, device=device)
        interior = torch.zeros(height * width, dtype=torch.bool, device=device)
        for view in range(self.num_views):
            coords, in_front = project(view, directions)
            flat = torch.nonzero(in_front & (coords.abs().amax(dim=-1) <= 1), as_tuple=True)[0]
            weight = geometry.border_weight(coords[flat])
            interior[flat[weight > 0]] = True
            # A pixel lying exactly on view borders only still takes those views, equally
            # weighted, rather than coming out black.
            weight = weight + 1e-9
            total.index_add_(0, flat, weight)
            count[flat] += 1
            pixels.append(flat.int())
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
            flat, weight = pixels[view].long(), weights[view]
            pixels[view] = weights[view] = None  # let each view's first-pass lists go once used
            coords, _ = project(view, directions[flat])
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
