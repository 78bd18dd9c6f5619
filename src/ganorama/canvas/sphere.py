"""The sphere canvas: camera layouts, the sphere sync operator, equirect composition."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ganorama import geometry
from ganorama.canvas.sync import SyncOperator
from ganorama.errors import UsageError


@dataclass(frozen=True)
class View:
    """One camera on the sphere, angles in degrees (conventions in :mod:`ganorama.geometry`)."""

    azimuth: float
    elevation: float
    roll: float = 0.0
    fov: float = 90.0


def seed16_layout() -> list[View]:
    """The seed's 16 views, in its order: 4 at +45, 4 at -45, 8 on the horizon (fov 90).

    The poles lie on the border of the +-45 views, where the blend weight is zero."""
    upper = [View(azimuth, 45.0) for azimuth in (0, 90, 180, 270)]
    lower = [View(azimuth, -45.0) for azimuth in (0, 90, 180, 270)]
    horizon = [View(float(azimuth), 0.0) for azimuth in range(0, 360, 45)]
    return upper + lower + horizon


def full_sphere_layout() -> list[View]:
    """seed16 plus a zenith and a nadir view, so every direction lies inside some view."""
    return seed16_layout() + [View(0.0, 90.0), View(0.0, -90.0)]


def cube_layout() -> list[View]:
    """Six views looking along +-x, +-y, +-z, slightly wider than 90 degrees so they overlap."""
    fov = 100.0
    return [View(0, 0, fov=fov), View(90, 0, fov=fov), View(180, 0, fov=fov), View(270, 0, fov=fov),
            View(0, 90, fov=fov), View(0, -90, fov=fov)]  # fmt: skip


LAYOUTS = {"full": full_sphere_layout, "seed16": seed16_layout, "cube": cube_layout}
DEFAULT_LAYOUT = "full"


def layout_views(name: str) -> list[View]:
    try:
        return LAYOUTS[name]()
    except KeyError:
        raise UsageError(f"unknown layout {name!r}; allowed: {', '.join(LAYOUTS)}") from None


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

    @classmethod
    def from_layout(cls, name: str = DEFAULT_LAYOUT) -> "SphereCanvas":
        return cls(layout_views(name))

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
