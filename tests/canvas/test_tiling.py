"""Tile-grid arithmetic, before any model: the overlaps a model allows, off-grid overlaps
refused naming the grid, and the texture grid closest to a wanted size."""
from __future__ import annotations

import pytest

from ganorama.canvas.tiling import allowed_overlaps, check_overlap, texture_grid
from ganorama.errors import UsageError

# biggan-deep-128's feature sizes at the seed's default synced blocks 2..6 (start 2, end 7).
BLOCKS_2_TO_7 = [8, 16, 16, 32, 32]


def test_allowed_overlaps_follow_the_coarsest_synced_grid():
    assert allowed_overlaps(128, BLOCKS_2_TO_7) == [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]
    assert allowed_overlaps(128, [4]) == [0, 0.25, 0.5, 0.75]
    assert len(allowed_overlaps(128)) == 128  # pixels only


@pytest.mark.parametrize("overlap", [0.3, 0.0625, 0.1])
def test_off_grid_overlap_is_rejected_naming_the_grid_and_the_allowed_values(overlap):
    with pytest.raises(UsageError) as error:
        check_overlap(overlap, 128, BLOCKS_2_TO_7, first_block=2)
    message = str(error.value)
    assert "\n" not in message
    assert f"overlap {overlap:g}" in message and "8x8 feature grid of block 2" in message
    assert "allowed for this model: 0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875" in message


@pytest.mark.parametrize("size,expected", [(512, 8), (500, 8), (100, 2), (96, 2), (95, 1), (1, 1), (2048, 32)])
def test_texture_grid_is_closest_to_the_requested_size(size, expected):
    assert texture_grid(size, tile_size=128, overlap=0.5) == expected
