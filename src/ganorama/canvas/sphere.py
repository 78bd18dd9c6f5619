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
_COVERAGE_VIEWS_AT_ONCE = 32


def check_covers_sphere(views, label: str) -> None:
    """UsageError naming directions that lie inside no view (where the panorama would
    have a hole), sampled on a fine equirect grid."""
    height, width = _COVERAGE_GRID
    canvas = SphereCanvas(list(views))
    rotation, fov = canvas.cameras(dtype=torch.float32)
    directions = geometry.equirect_directions(height, width).reshape(-1, 3)
    covered = torch.zeros(directions.shape[0], dtype=torch.bool)
    # A few views at a time: the projections of every direction into thousands of views
    # at once would take gigabytes.
    for first in range(0, len(canvas.views), _COVERAGE_VIEWS_AT_ONCE):
        chunk = slice(first, first + _COVERAGE_VIEWS_AT_ONCE)
        coords, in_front = geometry.project_to_views(directions, rotation[chunk], fov[chunk], 1, 1)
        covered |= (in_front & (coords.abs().amax(dim=-1) < 1)).any(dim=0)
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
    """Where each view lands in an equirect image: per view, the flat output pixels it
    touches, where to sample it there (grid_sample coordinates) and with what weight."""

    height: int
    width: int
    pixels: tuple[torch.Tensor, ...]  # V x (K_v,) flat indices into H*W
    grids: tuple[torch.Tensor, ...]  # V x (1, 1, K_v, 2)
    weights: tuple[torch.Tensor, ...]  # V x (K_v,), already divided by the pixel's total weight
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
        covered pixel costing an index, a sampling position and a weight."""
        coverage = sum(_view_solid_angle(view.fov) for view in self.views) / (4 * math.pi)
        pixels = height * width
        per_covered_pixel = 8 + 8 + 4
        # The plan, plus while building it: directions, per-view coordinates and masks.
        return int(pixels * (coverage * per_covered_pixel + 12 + 12 + 4 + 3 * 4 + 8))

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
            column, row = column[inside], row[inside]
            # Bilinear taps; clamping the base keeps the last pixel centre (weight 1 on it).
            column0 = column.floor().clamp(max=max(width - 2, 0)).long()
            row0 = row.floor().clamp(max=max(height - 2, 0)).long()
            fx, fy = column - column0, row - row0
            column1 = (column0 + 1).clamp(max=width - 1)
            row1 = (row0 + 1).clamp(max=height - 1)
            base = source_view * pixels_per_view
            sources.append(torch.stack((base + row0 * width + column0, base + row0 * width + column1,
                                        base + row1 * width + column0, base + row1 * width + column1), dim=1))  # fmt: skip
            tap_weights.append(torch.stack(((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy), dim=1))
            targets.append(target_view * pixels_per_view + target_row * width + target_column)
        return SyncOperator.from_samples(
            self.num_views, height, width, torch.cat(targets), torch.cat(sources), torch.cat(tap_weights), device
        )

    # --- composition -----------------------------------------------------------------

    def composition_plan(self, height: int, width: int, device=None) -> CompositionPlan:
        key = (height, width, str(torch.device(device or "cpu")))
        if key not in self._plans:
            self._plans[key] = self._build_composition_plan(height, width, device)
        return self._plans[key]

    def _build_composition_plan(self, height: int, width: int, device) -> CompositionPlan:
        if height < 1 or width < 1:
            raise UsageError(f"panorama size {width}x{height} is invalid; width and height must be >= 1")
        rotation, fov = self.cameras(device=device, dtype=torch.float32)
        directions = geometry.equirect_directions(height, width, device=device).reshape(-1, 3)
        pixels, grids, weights = [], [], []
        total = torch.zeros(height * width, device=device)
        interior = torch.zeros(height * width, dtype=torch.bool, device=device)
        for view in range(self.num_views):  # per view: memory stays O(H * W)
            coords, in_front = geometry.project_to_views(directions, rotation[view : view + 1], fov[view : view + 1], 1, 1)
            coords, in_front = coords[0], in_front[0]  # (H*W, 2), (H*W,)
            inside = in_front & (coords.abs().amax(dim=-1) <= 1)
            flat = torch.nonzero(inside, as_tuple=True)[0]
            weight = geometry.border_weight(coords[flat])
            interior[flat[weight > 0]] = True
            # A pixel lying exactly on view borders only still takes those views, equally
            # weighted, rather than coming out black.
            weight = weight + 1e-9
            total.index_add_(0, flat, weight)
            pixels.append(flat)
            grids.append(coords[flat].view(1, 1, -1, 2))
            weights.append(weight)
        if not (total > 0).all():
            missing = int((total <= 0).sum())
            raise UsageError(f"layout leaves {missing} of {height * width} panorama pixels outside every view")
        weights = [weight / total[flat] for weight, flat in zip(weights, pixels)]
        return CompositionPlan(
            height, width, tuple(pixels), tuple(grids), tuple(weights), float(interior.float().mean())
        )

    def compose(self, images: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Blend V view images (V, C, S, S) into one equirect image (C, height, width)."""
        if images.shape[0] != self.num_views:
            raise ValueError(f"expected {self.num_views} views, got {images.shape[0]}")
        plan = self.composition_plan(height, width, images.device)
        images = images.float()
        output = images.new_zeros(images.shape[1], height * width)
        for view in range(self.num_views):
            samples = F.grid_sample(images[view : view + 1], plan.grids[view], mode="bilinear",
                                    padding_mode="border", align_corners=False)  # fmt: skip
            output.index_add_(1, plan.pixels[view], samples[0, :, 0] * plan.weights[view])
        return output.view(-1, height, width)
