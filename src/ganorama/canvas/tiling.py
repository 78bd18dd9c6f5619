"""Tile-grid arithmetic: overlaps, strides and wraps, checked before any model is loaded.

Torch-free: a request's overlap and wrap are checked here, and so are a plane canvas's,
with one message each. Tiles of ``tile_size`` px sit ``stride = tile_size * (1 - overlap)``
px apart; an overlap is usable when the stride is whole pixels and whole cells of every
synced feature grid.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

from ganorama.errors import UsageError

WRAPS = ("none", "x", "y", "xy")

DEFAULT_OVERLAP = 0.5
# How far from a whole number a stride may be and still count as one: overlaps typed as
# decimals must not be rejected for float noise ((1 - 0.3) * 10 = 7.000000000000001).
_WHOLE_TOLERANCE = 1e-6


# --- overlap arithmetic (pure functions, usable before any model is loaded) --------------


def stride_for(tile_size: int, overlap: float) -> float:
    """Pixels between neighbouring tile origins (may be fractional for a bad overlap)."""
    return tile_size * (1.0 - overlap)


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < _WHOLE_TOLERANCE


def stride_quantum(tile_size: int, resolutions: Sequence[int] = ()) -> int:
    """The least stride (pixels) that is a whole number of cells on every feature grid.

    A stride s puts a grid of r cells per tile on whole cells iff tile_size divides s * r,
    i.e. iff tile_size / gcd(tile_size, r) divides s; the quantum is the lcm of those."""
    quantum = 1
    for resolution in resolutions:
        quantum = math.lcm(quantum, tile_size // math.gcd(tile_size, int(resolution)))
    return quantum


def allowed_overlaps(tile_size: int, resolutions: Sequence[int] = ()) -> list[float]:
    """Every overlap in [0, 1) whose stride is whole pixels and whole feature cells, ascending."""
    quantum = stride_quantum(tile_size, resolutions)
    return [1.0 - stride / tile_size for stride in range(tile_size, 0, -quantum)]


def describe_allowed(tile_size: int, resolutions: Sequence[int] = ()) -> str:
    """``0, 0.25, 0.5, 0.75`` or, when that list would be long, ``multiples of 1/128 below 1``."""
    overlaps = allowed_overlaps(tile_size, resolutions)
    if len(overlaps) <= 9:
        return ", ".join(f"{value:g}" for value in overlaps)
    step = Fraction(stride_quantum(tile_size, resolutions), tile_size)
    examples = [value for value in (0.0, 0.25, 0.5, 0.75) if value in overlaps]
    return f"multiples of {step} below 1, e.g. {', '.join(f'{value:g}' for value in examples)}"


OVERLAP_ALLOWED = "0 <= overlap < 1 (0.5 = half a tile)"


def check_overlap_range(overlap: float, label: str = "overlap") -> float:
    """The model-independent part of :func:`check_overlap`: a number in [0, 1)."""
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)):
        raise UsageError(f"{label} {overlap!r} is not a number; allowed: {OVERLAP_ALLOWED}")
    overlap = float(overlap)
    if not (math.isfinite(overlap) and 0 <= overlap < 1):
        raise UsageError(f"{label} {overlap!r} is out of range; allowed: {OVERLAP_ALLOWED}")
    return overlap


def check_overlap(
    overlap: float,
    tile_size: int,
    resolutions: Sequence[int] = (),
    first_block: int | None = None,
) -> int:
    """Validate ``overlap`` for tiles of ``tile_size`` px synced at feature grids of
    ``resolutions`` cells per tile side (the hooked blocks, the first being block
    ``first_block``); return the stride in whole pixels or raise a one-line UsageError."""
    check_overlap_range(overlap)
    stride = stride_for(tile_size, overlap)
    for position, resolution in sorted(enumerate(resolutions), key=lambda item: item[1]):
        if not _is_whole(stride * resolution / tile_size):
            block = f"block {first_block + position}" if first_block is not None else "a synced block"
            raise UsageError(
                f"overlap {overlap:g} puts tiles off the {resolution}x{resolution} feature grid of {block} "
                f"(stride {stride:g} px on {tile_size} px tiles); allowed for this model: "
                f"{describe_allowed(tile_size, resolutions)}"
            )
    if not _is_whole(stride):
        raise UsageError(
            f"overlap {overlap:g} gives a stride of {stride:g} px on {tile_size} px tiles, not a whole number "
            f"of pixels; allowed: {describe_allowed(tile_size, resolutions)}"
        )
    return int(round(stride))


def check_wrap_choice(wrap: str, label: str = "wrap") -> str:
    if not isinstance(wrap, str) or wrap not in WRAPS:
        raise UsageError(f"{label} {wrap!r} is invalid; allowed: {', '.join(WRAPS)}")
    return wrap


def check_wrap(wrap: str, overlap: float, label=lambda name: name) -> None:
    """A wrap that the overlap can join; ``label`` spells the field names in the message."""
    check_wrap_choice(wrap, label("wrap"))
    # Without overlap no tile reaches across the wrapped edge, so nothing would join it:
    # the result would not tile, which is the only reason to ask for wrap.
    if wrap != "none" and overlap == 0:
        raise UsageError(f"{label('wrap')} {wrap!r} needs {label('overlap')} > 0 "
                         "(tiles must overlap across the wrapped edge to join it)")


def check_grid(rows: int, cols: int) -> None:
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} {value!r} is invalid; allowed: a whole number >= 1")


def texture_grid(size: int, tile_size: int, overlap: float = DEFAULT_OVERLAP) -> int:
    """Tiles per side of the square wrapped grid whose canvas (``n * stride`` px) is
    closest to ``size`` px (ties go to the larger); at least one tile."""
    if size < 1:
        raise UsageError(f"texture size {size} is invalid; allowed: a whole number of pixels >= 1")
    stride = check_overlap(overlap, tile_size)
    return max(1, math.floor(size / stride + 0.5))
