"""Seam and pole measures of any equirectangular panorama: pure functions of a (C, H, W)
float tensor in [0, 1], W = 2 H (ours or another tool's).

- :func:`discontinuity_score`: the Discontinuity Score (DS) of Christensen et al.,
  "Geometry Fidelity for Spherical Images" (arXiv 2407.18207): a horizontal Scharr filter over a band six pixels wide around the +-180 degree border
  (three columns of each side, the right edge put before the left one as they meet on the
  sphere), and per row the filter's response on the two columns next to the border over
  the response one column further in (plus a constant ``c``), averaged over both sides and
  all rows. Below 1 where the border is as smooth as the image next to it; large where
  it is a step the image does not otherwise have.
- :func:`wrap_step`: the mean absolute step across the border over the mean absolute
  step between neighbouring columns inside the image (as the canvas tests measure
  seams): about 1 for a seamless panorama.
- :func:`pole_spreads`: the standard deviation of the top and the bottom row. Each is one
  point of the sphere, so a panorama whose poles close has a spread near 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

# The horizontal Scharr kernel (OpenCV's, normalised to unit gain on a unit ramp): smoothing
# 3, 10, 3 down the rows, a central difference across the columns.
_SCHARR_X = torch.tensor([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 32.0
# The constant c of DS's ratio, which keeps flat areas (no gradient either side) from
# dividing by zero; on luma in [0, 1].
DS_CONSTANT = 0.1
# Columns of each side of the border the DS band takes.
_DS_HALF_BAND = 3
# ITU-R BT.601 luma, as OpenCV's grey conversion.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class PanoramaScores:
    """The scores of one panorama (see the module's docstring)."""

    discontinuity_score: float
    wrap_step: float
    pole_spread: float
    north_spread: float
    south_spread: float

    def to_dict(self) -> dict:
        return {name: round(value, 6) for name, value in asdict(self).items()}


def score_panorama(image: torch.Tensor) -> PanoramaScores:
    """All scores of an equirect image (C, H, W) in [0, 1]."""
    north, south = pole_spreads(image)
    return PanoramaScores(discontinuity_score(image), wrap_step(image), max(north, south), north, south)


def grey(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (H, W) luma (BT.601); one channel is taken as it is."""
    if image.shape[0] == 1:
        return image[0].float()
    weights = torch.tensor(_LUMA, dtype=torch.float32, device=image.device)
    return torch.einsum("chw,c->hw", image[:3].float(), weights)


def discontinuity_score(image: torch.Tensor, c: float = DS_CONSTANT) -> float:
    """DS of an equirect image (C, H, W) in [0, 1] (arXiv 2407.18207): one border (the
    +-180 degree one) as long as the image is high, so DS(I) = DS(a) of that border's band."""
    luma = grey(image)
    if luma.shape[-1] < 2 * _DS_HALF_BAND:
        raise ValueError(f"a panorama {luma.shape[-1]} px wide is too narrow for the DS band of {2 * _DS_HALF_BAND}")
    band = torch.cat((luma[:, -_DS_HALF_BAND:], luma[:, :_DS_HALF_BAND]), dim=1)  # (H, 6): x = 0..5
    # Rows beyond the top and bottom repeat the edge rows; columns need none (x = 1..4 only).
    padded = F.pad(band[None, None], (0, 0, 1, 1), mode="replicate")
    response = F.conv2d(padded, _SCHARR_X.to(band.device)[None, None]).abs()[0, 0]  # (H, 4): x = 1..4
    inner_left, border_left, border_right, inner_right = response.unbind(dim=1)
    ratios = border_left / (inner_left + c) + border_right / (inner_right + c)
    return float(ratios.sum() / (2 * luma.shape[0]))


def wrap_step(image: torch.Tensor) -> float:
    """Mean |step| across the +-180 degree border over the mean |step| between
    neighbouring columns inside (C, H, W); 0 for a constant image."""
    image = image.float()
    seam = (image[..., 0] - image[..., -1]).abs().mean()
    interior = (image[..., 1:] - image[..., :-1]).abs().mean()
    return float(seam / interior) if float(interior) > 0 else 0.0


def pole_spreads(image: torch.Tensor) -> tuple[float, float]:
    """Standard deviation along the top and the bottom row (over columns, averaged over
    channels) of (C, H, W): each row is one point of the sphere."""
    image = image.float()
    return float(image[:, 0].std(dim=-1).mean()), float(image[:, -1].std(dim=-1).mean())
